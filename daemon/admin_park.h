/*
 * admin_park: the one admin endpoint that changes anything —
 *
 *   POST /parked/release   Content-Type: application/json
 *        {"key": "K" | "key_hex": "4b", "since": MS, "through": SEQ}
 *
 * releases a parked key (pipeline/park.h) in every partition where it is
 * parked. "since" and "through" name the park episode and the last of its
 * dead letters the caller replayed (fg.parked.since, fg.parked.seq); the
 * key is let go only if nothing after that was parked. Without them the
 * release is unconditional (an operator's override). Answers 200
 * {"released":N}; 409 when more of the key was parked than replayed
 * ({"released":0,"behind":N,"events":E}) or it was parked again since; 404
 * when the key is not parked; 403 to a peer that is not on loopback; 415
 * without the JSON content type (a cross-site form cannot send it, so a web
 * page cannot make a browser release keys); 400 for a bad body.
 *
 * Threading: main thread (the admin server's loop).
 * Ownership: borrows the park table, which must outlive the server.
 */
#ifndef FG_ADMIN_PARK_H
#define FG_ADMIN_PARK_H

#include "pipeline/park.h"

struct evhttp_request;

/* Answers one request for /parked/release (the admin server routes it
 * here after its Host check). */
void fg_admin_park_serve(struct evhttp_request *req, fg_park_t *park);

#endif
