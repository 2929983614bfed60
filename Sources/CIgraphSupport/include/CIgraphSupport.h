#ifndef GRAPHD_CIGRAPH_SUPPORT_H
#define GRAPHD_CIGRAPH_SUPPORT_H

/* igraph's default error handler aborts the process. graphd installs one that
 * records the message, frees igraph's cleanup stack and lets the failing call
 * return its error code, which Swift turns into IgraphError. */
void graphd_igraph_install_error_handler(void);

/* The message of the last igraph error (empty if none). */
const char *graphd_igraph_last_error_message(void);

/* Asks the processor to bring the cache line at `address` in for reading,
 * without waiting for it: GraphCore's batched hash lookups issue these a few
 * keys ahead, so that their cache misses overlap instead of queueing. (Not
 * igraph's, but GraphCore's one C helper; it lives with its other C support.) */
static inline void graphd_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
