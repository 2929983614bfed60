/*
 * graphd C client: calls graphd's services over its ttrpc socket (Unix, TCP, or TCP with TLS).
 *
 * Messages are the protobuf-c types generated from graphd's Proto/ files
 * (generated/graphd/v1/graph.pb-c.h, recommend.pb-c.h), e.g. Graphd__V1__StatsRequest. A call frames
 * a ttrpc Request (10-byte big-endian header: length, stream id, type, flags),
 * waits for the Response with the same stream id until the deadline, and
 * returns the google.rpc status code. One connection per graphd_client; not
 * thread-safe (use one client per thread, or a lock).
 *
 *   graphd_client *c;
 *   if (graphd_connect_unix("/tmp/graphd.sock", &c) != GRAPHD_OK) { ... }
 *   Graphd__V1__StatsRequest req = GRAPHD__V1__STATS_REQUEST__INIT;
 *   Graphd__V1__StatsResponse *stats = NULL;
 *   int code = graphd_call(c, "graphd.v1.Graph", "Stats", &req.base,
 *                          &graphd__v1__stats_response__descriptor, 2000, (ProtobufCMessage **)&stats);
 *   if (code == GRAPHD_OK) { printf("%llu edges\n", (unsigned long long)stats->edges);
 *                            protobuf_c_message_free_unpacked(&stats->base, NULL); }
 *   else fprintf(stderr, "%s\n", graphd_last_error(c));
 *   graphd_close(c);
 */
#ifndef GRAPHD_CLIENT_H
#define GRAPHD_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* google.rpc codes, as graphd returns them. */
enum {
    GRAPHD_OK = 0,
    GRAPHD_CANCELLED = 1,
    GRAPHD_UNKNOWN = 2,
    GRAPHD_INVALID_ARGUMENT = 3,
    GRAPHD_DEADLINE_EXCEEDED = 4,
    GRAPHD_NOT_FOUND = 5,
    GRAPHD_ALREADY_EXISTS = 6,
    GRAPHD_PERMISSION_DENIED = 7,
    GRAPHD_RESOURCE_EXHAUSTED = 8,
    GRAPHD_FAILED_PRECONDITION = 9,
    GRAPHD_ABORTED = 10,
    GRAPHD_OUT_OF_RANGE = 11,
    GRAPHD_UNIMPLEMENTED = 12,
    GRAPHD_INTERNAL = 13,
    GRAPHD_UNAVAILABLE = 14,
    GRAPHD_DATA_LOSS = 15,
    GRAPHD_UNAUTHENTICATED = 16,
};

/* Frames larger than this are refused (graphd's limit too). */
#define GRAPHD_MAX_MESSAGE (4u << 20)

typedef struct graphd_client graphd_client;

/* Connects; on success *out is a new client and GRAPHD_OK is returned. On
   failure *out is NULL, GRAPHD_UNAVAILABLE is returned and
   graphd_connect_error() says why. */
int graphd_connect_unix(const char *path, graphd_client **out);
int graphd_connect_tcp(const char *host, uint16_t port, graphd_client **out);

/* Connects over TCP and speaks TLS (1.2 or later, OpenSSL): graphd's certificate
   must chain to a certificate of `ca_file` (PEM), or with NULL to the system's
   roots, and name `host` (DNS name or IP address). A listener that requires a
   token also wants graphd_set_metadata(client, "authorization", "Bearer TOKEN"). */
int graphd_connect_tls(const char *host, uint16_t port, const char *ca_file, graphd_client **out);

/* Why the last graphd_connect_* in this thread failed. */
const char *graphd_connect_error(void);

/* Calls service/method with `request`. On GRAPHD_OK, *response is a message of
   type `response_type` for the caller to free with
   protobuf_c_message_free_unpacked(*response, NULL). On any other code,
   *response is NULL and graphd_last_error(client) says why. timeout_ms > 0 is
   sent as the ttrpc deadline and enforced locally (GRAPHD_DEADLINE_EXCEEDED). */
int graphd_call(graphd_client *client, const char *service, const char *method,
                const ProtobufCMessage *request, const ProtobufCMessageDescriptor *response_type,
                int timeout_ms, ProtobufCMessage **response);

/* The message of the last failed call on `client` (never NULL). */
const char *graphd_last_error(const graphd_client *client);

/* Attaches a metadata entry (e.g. "request-id") to every later request. */
int graphd_set_metadata(graphd_client *client, const char *key, const char *value);

/* Replication (deploy/SCALING.md). A write a replica refuses with
   GRAPHD_FAILED_PRECONDITION names the primary ("... send writes to the primary
   at unix:PATH" or "tcp:HOST:PORT"); with following on (the default), the
   client connects there like it connected here (TLS and metadata included),
   sends the write once more, and keeps that connection for later writes. */
void graphd_set_follow_primary(graphd_client *client, int on);

/* Session consistency: when on, every read carries metadata
   "min-log-sequence: N", N the highest log sequence this client's writes were
   acknowledged at, and a replica answers only once it holds them. Off by default. */
void graphd_set_read_your_writes(graphd_client *client, int on);

/* The highest log_sequence of this client's acknowledged writes (0: none, or
   graphd runs alone). */
uint64_t graphd_highest_log_sequence(const graphd_client *client);

void graphd_close(graphd_client *client);

#ifdef __cplusplus
}
#endif
#endif
