/*
 * admin_park: POST /parked/release (see admin_park.h). Its own evhttp
 * callback, so the read-only endpoints' handler stays as it is.
 */
#include "daemon/admin_park.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/log.h"

/* The admin server bounds bodies to 1 KiB; a hex key fills at most that. */
#define KEY_MAX_BYTES 512

static bool peer_is_loopback(struct evhttp_request *req) {
        struct evhttp_connection *conn = evhttp_request_get_connection(req);
        const struct sockaddr *sa = conn ? evhttp_connection_get_addr(conn) : NULL;

        if (!sa)
                return false;
        if (sa->sa_family == AF_INET)
                return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
        if (sa->sa_family == AF_INET6) {
                const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
                return IN6_IS_ADDR_LOOPBACK(a) ||
                       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
        }
        return false;
}

static void answer(struct evhttp_request *req, int code, const char *reason, json_t *doc) {
        struct evbuffer *out = evbuffer_new();
        char *text = json_dumps(doc, JSON_COMPACT);

        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
        evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
        if (out && text)
                evbuffer_add(out, text, strlen(text));
        evhttp_send_reply(req, code, reason, out);
        if (out)
                evbuffer_free(out);
        free(text);
        json_decref(doc);
}

static void refuse(struct evhttp_request *req, int code, const char *reason, const char *why) {
        answer(req, code, reason, json_pack("{s:s}", "error", why));
}

static int hexval(int c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c |= 0x20;
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The key of the request body into @p key; its length, or -1. */
static long key_of(json_t *body, unsigned char *key) {
        json_t *k = json_object_get(body, "key"), *hex = json_object_get(body, "key_hex");
        size_t n;

        if (json_is_string(k) && !hex) {
                n = json_string_length(k);
                if (n > KEY_MAX_BYTES)
                        return -1;
                memcpy(key, json_string_value(k), n);
                return (long)n;
        }
        if (!json_is_string(hex) || k || json_string_length(hex) % 2 ||
            json_string_length(hex) / 2 > KEY_MAX_BYTES)
                return -1;
        n = json_string_length(hex) / 2;
        for (size_t i = 0; i < n; i++) {
                int hi = hexval((unsigned char)json_string_value(hex)[2 * i]);
                int lo = hexval((unsigned char)json_string_value(hex)[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -1;
                key[i] = (unsigned char)(hi << 4 | lo);
        }
        return (long)n;
}

/* An integer member, or @p dflt when absent; false when present but not a
 * non-negative integer. */
static bool int_member(json_t *body, const char *name, int64_t dflt, int64_t *out) {
        json_t *v = json_object_get(body, name);

        *out = dflt;
        if (!v)
                return true;
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return false;
        *out = json_integer_value(v);
        return true;
}

void fg_admin_park_serve(struct evhttp_request *req, fg_park_t *park) {
        const char *ctype = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        unsigned char key[KEY_MAX_BYTES];
        fg_park_release_result_t res;
        int64_t since, through;
        json_t *body;
        long klen;

        if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
                evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
                evhttp_send_error(req, HTTP_BADMETHOD, NULL);
                return;
        }
        if (!peer_is_loopback(req)) {
                refuse(req, 403, "Forbidden", "releases are accepted from loopback only");
                return;
        }
        if (!ctype || strncasecmp(ctype, "application/json", 16)) {
                refuse(req, 415, "Unsupported Media Type", "send Content-Type: application/json");
                return;
        }
        body = evbuffer_get_length(in) ? json_loadb((const char *)evbuffer_pullup(in, -1),
                                                    evbuffer_get_length(in), 0, NULL)
                                       : NULL;
        klen = json_is_object(body) ? key_of(body, key) : -1;
        if (klen < 0 || !int_member(body, "since", -1, &since) ||
            !int_member(body, "through", -1, &through) || (since < 0) != (through < 0)) {
                json_decref(body);
                refuse(req, HTTP_BADREQUEST, "Bad Request",
                       "expected {\"key\": K | \"key_hex\": H, \"since\": MS, \"through\": SEQ} "
                       "(since and through together, or neither)");
                return;
        }
        json_decref(body);
        fg_park_release(park, key, (size_t)klen, since, through, &res);
        if (res.released) {
                fg_info("parked key (%ld bytes) released in %zu partition%s", klen, res.released,
                        res.released == 1 ? "" : "s");
                answer(req, HTTP_OK, "OK", json_pack("{s:I}", "released", (json_int_t)res.released));
        } else if (res.behind) {
                answer(req, 409, "Conflict",
                       json_pack("{s:i, s:I, s:I, s:s}", "released", 0, "behind",
                                 (json_int_t)res.behind, "events", (json_int_t)res.events, "error",
                                 "more of this key was parked than replayed; replay again"));
        } else if (res.other) {
                refuse(req, 409, "Conflict", "the key was parked again since; replay the new park");
        } else {
                refuse(req, HTTP_NOTFOUND, "Not Found", "the key is not parked");
        }
}
