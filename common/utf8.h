/*
 * utf8: the one strict UTF-8 sequence check the config loader, the event
 * handler and the JSON scanner share (RFC 3629: no overlong forms, no
 * UTF-16 surrogates, nothing past U+10FFFF). It is also what jansson and
 * libyaml accept, which is why the scanner and the loader can use it to
 * agree with them.
 *
 * Threading: pure function, any thread. Ownership: reads only.
 */
#ifndef FG_UTF8_H
#define FG_UTF8_H

#include <stddef.h>

/* Length (2-4) of the well-formed multi-byte sequence at @p p, of which at
 * most @p avail bytes may be read, or 0 when there is none there (an ASCII
 * or invalid lead byte, a bad or missing continuation byte). Stops reading
 * at the first byte that fails, so a NUL-terminated string may pass 4. */
static inline size_t fg_utf8_seq_len(const unsigned char *p, size_t avail) {
        unsigned char c = p[0], lo = 0x80, hi = 0xBF;
        size_t n;

        if (c >= 0xC2 && c <= 0xDF)
                n = 2;
        else if (c >= 0xE0 && c <= 0xEF)
                n = 3;
        else if (c >= 0xF0 && c <= 0xF4)
                n = 4;
        else
                return 0;
        if (c == 0xE0)
                lo = 0xA0; /* overlong */
        else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        else if (c == 0xF0)
                lo = 0x90; /* overlong */
        else if (c == 0xF4)
                hi = 0x8F; /* past U+10FFFF */
        if (avail < n || p[1] < lo || p[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if ((p[i] & 0xC0) != 0x80)
                        return 0;
        return n;
}

#endif
