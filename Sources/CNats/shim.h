#ifndef GRAPHD_CNATS_SHIM_H
#define GRAPHD_CNATS_SHIM_H
#include <nats/nats.h>
#endif
