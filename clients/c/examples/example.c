/* Example: health, stats and a recommendation from a running graphd.
   usage: example [SOCKET] [USER_KEY]   (default socket: $GRAPHD_SOCKET or /tmp/graphd.sock) */
#include <stdio.h>
#include <stdlib.h>

#include "graphd_client.h"
#include "graphd/v1/graph.pb-c.h"
#include "graphd/v1/recommend.pb-c.h"

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : (getenv("GRAPHD_SOCKET") ? getenv("GRAPHD_SOCKET") : "/tmp/graphd.sock");
    const char *user = argc > 2 ? argv[2] : NULL;
    graphd_client *client;
    if (graphd_connect_unix(path, &client) != GRAPHD_OK) {
        fprintf(stderr, "%s\n", graphd_connect_error());
        return 69;
    }
    Graphd__V1__StatsRequest stats_request = GRAPHD__V1__STATS_REQUEST__INIT;
    Graphd__V1__StatsResponse *stats = NULL;
    int code = graphd_call(client, "graphd.v1.Graph", "Stats", &stats_request.base,
                           &graphd__v1__stats_response__descriptor, 2000, (ProtobufCMessage **)&stats);
    if (code != GRAPHD_OK) {
        fprintf(stderr, "Stats failed (%d): %s\n", code, graphd_last_error(client));
        graphd_close(client);
        return 70;
    }
    printf("graphd %s: %llu nodes, %llu edges\n", stats->version, (unsigned long long)stats->nodes, (unsigned long long)stats->edges);
    protobuf_c_message_free_unpacked(&stats->base, NULL);

    if (user) {
        Graphd__V1__NodeRef ref = GRAPHD__V1__NODE_REF__INIT;
        ref.type = "user";
        ref.key = (char *)user;
        Graphd__V1__RecommendRequest request = GRAPHD__V1__RECOMMEND_REQUEST__INIT;
        request.user = &ref;
        request.k = 10;
        Graphd__V1__RecommendResponse *response = NULL;
        code = graphd_call(client, "graphd.v1.Recommend", "Recommend", &request.base,
                           &graphd__v1__recommend_response__descriptor, 2000, (ProtobufCMessage **)&response);
        if (code != GRAPHD_OK) {
            fprintf(stderr, "Recommend failed (%d): %s\n", code, graphd_last_error(client));
        } else {
            for (size_t i = 0; i < response->n_items; i++) {
                printf("%2zu. %s  %.4g\n", i + 1, response->items[i]->item->key, response->items[i]->score);
            }
            protobuf_c_message_free_unpacked(&response->base, NULL);
        }
    }
    graphd_close(client);
    return code == GRAPHD_OK ? 0 : 65;
}
