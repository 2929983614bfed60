#ifndef GRAPHD_CIGRAPH_SHIM_H
#define GRAPHD_CIGRAPH_SHIM_H

/* igraph.h defines _GNU_SOURCE before it includes the C library, which would
   give this module its own, different fd_set (and friends) from Swift's Glibc
   module, and a clean build then fails with "fds_bits ... is not present in
   definition of fd_set". Include the C library first, as Swift's Glibc sees
   it; igraph's own includes are then no-ops. */
#include <sys/types.h>
#include <sys/select.h>
#include <sys/time.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <igraph.h>

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
