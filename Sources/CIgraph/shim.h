#ifndef GRAPHD_CIGRAPH_SHIM_H
#define GRAPHD_CIGRAPH_SHIM_H

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
