#ifndef GRAPHD_CIGRAPH_SUPPORT_H
#define GRAPHD_CIGRAPH_SUPPORT_H

/* igraph's default error handler aborts the process. graphd installs one that
 * records the message, frees igraph's cleanup stack and lets the failing call
 * return its error code, which Swift turns into IgraphError. */
void graphd_igraph_install_error_handler(void);

/* The message of the last igraph error (empty if none). */
const char *graphd_igraph_last_error_message(void);

#endif
