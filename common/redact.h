/*
 * redact: the one place that decides what a secret looks like in text
 * floodgate shows (log lines, config errors, /stats, sink reasons), and
 * hides it.
 *
 * Two kinds of secret:
 *   - the user-info of a URL ("http://user:password@host/" shows the
 *     user-info as FG_REDACTED), wherever a URL appears in a text: fg_vlog()
 *     applies it to every log line, the config loader to every message;
 *   - a known value (a librdkafka property's value, a bearer token, a
 *     password): every occurrence of it in a text that stands alone (not
 *     inside a longer word) becomes FG_REDACTED.
 * Code that builds a message from a secret-bearing value should not print
 * the value at all; these functions are for texts that others wrote (a
 * library's error string, a URL the user gave) and may echo one.
 *
 * Threading: pure functions, any thread.
 * Ownership: the caller owns both buffers; output is always NUL-terminated
 * (truncated to the buffer) unless its size is 0.
 */
#ifndef FG_REDACT_H
#define FG_REDACT_H

#include <stdbool.h>
#include <stddef.h>

/* What a secret is shown as. */
#define FG_REDACTED "***"

/* Copies @p in into @p out with the user-info of every URL in it replaced
 * by FG_REDACTED ("scheme://user:pw@host" keeps "scheme://" and "@host"). A URL
 * here is a scheme (a letter, then letters, digits, '+', '-', '.') followed
 * by "://"; its authority ends at '/', '?', '#', a blank, a quote or '<',
 * '>' and the user-info at the authority's last '@'. Returns @p out. */
const char *fg_redact_urls(const char *in, char *out, size_t size);

/* Whether @p in holds a URL with user-info (fg_redact_urls would change
 * it). Cheap: the common case is one strchr for '@'. */
bool fg_redact_has_url_userinfo(const char *in);

/* Copies @p in into @p out with each occurrence of @p secret (leading and
 * trailing blanks ignored) that stands alone replaced by FG_REDACTED:
 * where the secret starts or ends with a letter or digit, the text beside
 * that end must not be one. An empty secret leaves the text as it is.
 * Returns @p out. */
const char *fg_redact_secret(const char *in, const char *secret, char *out, size_t size);

/* Whether a setting named @p name (a librdkafka property, a header, an
 * option) holds a secret by its name: password, secret, token, key
 * material, credentials, JAAS or OAUTHBEARER configuration, Authorization
 * headers. Case-insensitive. */
bool fg_redact_is_secret_name(const char *name);

#endif
