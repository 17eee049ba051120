/*
 * hash: a fast 64-bit hash of short byte strings, for scheduling keys and
 * parked keys (not for anything an attacker could exploit: a collision only
 * serialises two keys, or makes a lookup compare bytes).
 *
 * FNV-1a over the bytes, seeded, then the splitmix64 finaliser so every
 * input bit reaches every output bit (FNV alone leaves the low bits weak,
 * and tables index by them).
 *
 * Threading: pure functions, any thread.
 */
#ifndef FG_HASH_H
#define FG_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t fg_hash_mix(uint64_t x) {
        x ^= x >> 30;
        x *= 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 27;
        x *= 0x94d049bb133111ebULL;
        x ^= x >> 31;
        return x;
}

static inline uint64_t fg_hash_bytes(uint64_t seed, const void *data, size_t len) {
        const unsigned char *p = data;
        uint64_t h = 0xcbf29ce484222325ULL ^ fg_hash_mix(seed + len);

        for (size_t i = 0; i < len; i++) {
                h ^= p[i];
                h *= 0x100000001b3ULL;
        }
        return fg_hash_mix(h);
}

#endif
