/*
 * bad_abi: a test plugin claiming ABI version 99, which floodgate must
 * refuse before calling anything else in it.
 */
#include <stddef.h>

#include "floodgate_plugin.h"

static const fg_plugin_t bad_abi_plugin = {
    .abi_version = 99, .struct_size = sizeof(fg_plugin_t), .name = "bad_abi"};

const fg_plugin_t *floodgate_plugin_v1(void) { return &bad_abi_plugin; }
