#include "CIgraphSupport.h"

#include <igraph.h>
#include <stdio.h>

/* Only the database actor calls igraph, one call at a time; a thread-local
 * buffer still keeps other users (graphctl's GraphML import) safe. */
static _Thread_local char last_error[512];

static void record_error(const char *reason, const char *file, int line, igraph_error_t code) {
    snprintf(last_error, sizeof last_error, "%s (%s:%d, %s)", reason ? reason : "", file ? file : "?", line,
             igraph_strerror(code));
    IGRAPH_FINALLY_FREE();
}

void graphd_igraph_install_error_handler(void) {
    igraph_set_error_handler(record_error);
    igraph_set_warning_handler(igraph_warning_handler_ignore);
}

const char *graphd_igraph_last_error_message(void) {
    return last_error;
}
