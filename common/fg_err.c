#include "common/fg_err.h"

const char *fg_err_str(fg_err_t err) {
        static const char *names[FG_ERR__CNT] = {
            [FG_OK]           = "success",
            [FG_ERR_INVALID]  = "invalid argument",
            [FG_ERR_CONFIG]   = "configuration error",
            [FG_ERR_NOMEM]    = "out of memory",
            [FG_ERR_IO]       = "I/O error",
            [FG_ERR_KAFKA]    = "Kafka error",
            [FG_ERR_FULL]     = "full",
            [FG_ERR_TIMEDOUT] = "timed out",
            [FG_ERR_STOPPED]  = "stopped",
            [FG_ERR_NOENT]    = "not found",
        };
        if ((unsigned)err >= FG_ERR__CNT || !names[err])
                return "unknown error";
        return names[err];
}
