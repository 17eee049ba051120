/*
 * json_walk: the one piece of json_walk.h that is not inline — reading a
 * number the way jansson does, whatever the process's locale.
 *
 * jansson converts reals with strtod after swapping '.' for the locale's
 * decimal point; strtod_l in the "C" locale reads the same digits to the
 * same (correctly rounded) double without a copy. The locale object is
 * created once, on first use, and only read afterwards.
 *
 * Threading: any thread (pthread_once guards the creation).
 */
#include "handler/json_walk.h"

#include <locale.h>
#include <pthread.h>
#include <stdlib.h>

static pthread_once_t c_once = PTHREAD_ONCE_INIT;
static locale_t c_numeric;

static void c_locale_init(void) {
        c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* Any thread. */
double fg_jw_strtod(const uint8_t *p) {
        pthread_once(&c_once, c_locale_init);
        if (c_numeric)
                return strtod_l((const char *)p, NULL, c_numeric);
        return strtod((const char *)p, NULL);
}
