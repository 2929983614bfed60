#ifndef GRAPHD_CIGRAPH_SHIM_H
#define GRAPHD_CIGRAPH_SHIM_H

#include <igraph.h>
#include <stdio.h>
#include <string.h>

/* igraph's default error handler aborts the process. graphd installs this one
 * instead: it records the last message (per thread) and lets the call return
 * its error code, which Swift turns into IgraphError. */
static _Thread_local char graphd_igraph_last_error[512];

static void graphd_igraph_error_handler(const char *reason, const char *file,
                                        int line, igraph_error_t igraph_errno) {
    snprintf(graphd_igraph_last_error, sizeof graphd_igraph_last_error,
             "%s (%s:%d, %s)", reason ? reason : "", file ? file : "?", line,
             igraph_strerror(igraph_errno));
    IGRAPH_FINALLY_FREE();
}

static inline void graphd_igraph_install_error_handler(void) {
    igraph_set_error_handler(graphd_igraph_error_handler);
    igraph_set_warning_handler(igraph_warning_handler_ignore);
}

static inline const char *graphd_igraph_last_error_message(void) {
    return graphd_igraph_last_error;
}

/* The C attribute handler, needed to read vertex names from GraphML. */
static inline void graphd_igraph_enable_attributes(void) {
    igraph_set_attribute_table(&igraph_cattribute_table);
}

/* VECTOR() is a macro and does not import; these give Swift the raw storage. */
static inline igraph_integer_t *graphd_vector_int_data(igraph_vector_int_t *v) {
    return v->stor_begin;
}
static inline igraph_real_t *graphd_vector_data(igraph_vector_t *v) {
    return v->stor_begin;
}

#endif
