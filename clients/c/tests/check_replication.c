/* Drives a replicated graphd (a primary and a replica) through the C client;
   exits non-zero on the first failure.
   usage: check_replication PRIMARY_SOCKET REPLICA_SOCKET
   (the Swift end-to-end suite starts NATS and both graphds, and runs this) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphd_client.h"
#include "graphd/v1/graph.pb-c.h"

#define CHECK(condition, ...)                                          \
    do {                                                               \
        if (!(condition)) {                                            \
            fprintf(stderr, "check failed at line %d: ", __LINE__);    \
            fprintf(stderr, __VA_ARGS__);                              \
            fprintf(stderr, "\n");                                     \
            exit(1);                                                   \
        }                                                              \
    } while (0)

static int add_edge(graphd_client *client, const char *user, const char *item, Graphd__V1__AddEdgesResponse **reply) {
    Graphd__V1__NodeRef source = GRAPHD__V1__NODE_REF__INIT, target = GRAPHD__V1__NODE_REF__INIT;
    source.type = "user";
    source.key = (char *)user;
    target.type = "item";
    target.key = (char *)item;
    Graphd__V1__Edge edge = GRAPHD__V1__EDGE__INIT;
    edge.type = "interacted";
    edge.source = &source;
    edge.target = &target;
    Graphd__V1__Edge *edges[] = {&edge};
    Graphd__V1__AddEdgesRequest request = GRAPHD__V1__ADD_EDGES_REQUEST__INIT;
    request.n_edges = 1;
    request.edges = edges;
    return graphd_call(client, "graphd.v1.Graph", "AddEdges", &request.base, &graphd__v1__add_edges_response__descriptor, 10000,
                       (ProtobufCMessage **)reply);
}

int main(int argc, char **argv) {
    CHECK(argc == 3, "usage: check_replication PRIMARY_SOCKET REPLICA_SOCKET");
    char primary_address[600];
    snprintf(primary_address, sizeof primary_address, "unix:%s", argv[1]);
    graphd_client *client;
    CHECK(graphd_connect_unix(argv[2], &client) == GRAPHD_OK, "connect: %s", graphd_connect_error());

    /* Without following: the replica's refusal names the primary. */
    graphd_set_follow_primary(client, 0);
    Graphd__V1__AddEdgesResponse *reply = NULL;
    int code = add_edge(client, "c-a", "c-x", &reply);
    CHECK(code == GRAPHD_FAILED_PRECONDITION, "a replica took a write (code %d)", code);
    const char *message = graphd_last_error(client);
    CHECK(strlen(message) >= strlen(primary_address) && strcmp(message + strlen(message) - strlen(primary_address), primary_address) == 0,
          "the refusal does not end with %s: %s", primary_address, message);

    /* Following it, with read-your-writes. */
    graphd_set_follow_primary(client, 1);
    graphd_set_read_your_writes(client, 1);
    for (int i = 0; i < 20; i++) {
        char user[32], item[32];
        snprintf(user, sizeof user, "c-u%d", i);
        snprintf(item, sizeof item, "c-i%d", i);
        code = add_edge(client, user, item, &reply);
        CHECK(code == GRAPHD_OK, "followed write: %s", graphd_last_error(client));
        CHECK(reply->created == 1 && reply->log_sequence > 0, "created %u at %llu", reply->created, (unsigned long long)reply->log_sequence);
        CHECK(graphd_highest_log_sequence(client) == reply->log_sequence, "highest log sequence not kept");
        protobuf_c_message_free_unpacked(&reply->base, NULL);

        Graphd__V1__NodeRef node = GRAPHD__V1__NODE_REF__INIT;
        node.type = "user";
        node.key = user;
        Graphd__V1__NeighborsRequest neighbors = GRAPHD__V1__NEIGHBORS_REQUEST__INIT;
        neighbors.node = &node;
        Graphd__V1__NeighborsResponse *seen = NULL;
        code = graphd_call(client, "graphd.v1.Graph", "Neighbors", &neighbors.base, &graphd__v1__neighbors_response__descriptor, 10000,
                           (ProtobufCMessage **)&seen);
        CHECK(code == GRAPHD_OK, "read on the replica: %s", graphd_last_error(client));
        CHECK(seen->n_neighbors == 1 && strcmp(seen->neighbors[0]->node->key, item) == 0, "the replica does not show %s's write", user);
        protobuf_c_message_free_unpacked(&seen->base, NULL);
    }
    graphd_close(client);
    printf("all replication checks passed\n");
    return 0;
}
