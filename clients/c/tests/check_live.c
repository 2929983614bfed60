#define _POSIX_C_SOURCE 200809L
/* Drives a live graphd through the C client; exits non-zero on the first failure.
   usage: check_live SOCKET   (the Swift end-to-end suite starts graphd and runs this) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphd_client.h"
#include "graphd/v1/graph.pb-c.h"
#include "graphd/v1/recommend.pb-c.h"
#include "graphd/v1/router.pb-c.h"
#include "graphd/v1/conversation.pb-c.h"

#define CHECK(condition, ...) do { if (!(condition)) { fprintf(stderr, "FAILED %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); exit(1); } } while (0)

static Graphd__V1__Edge *make_edge(const char *user, const char *item) {
    Graphd__V1__Edge *edge = calloc(1, sizeof *edge);
    Graphd__V1__NodeRef *source = calloc(1, sizeof *source), *target = calloc(1, sizeof *target);
    graphd__v1__edge__init(edge);
    graphd__v1__node_ref__init(source);
    graphd__v1__node_ref__init(target);
    source->type = "user";
    source->key = strdup(user);
    target->type = "item";
    target->key = strdup(item);
    edge->type = "interacted";
    edge->source = source;
    edge->target = target;
    return edge;
}

int main(int argc, char **argv) {
    CHECK(argc == 2, "usage: check_live SOCKET");
    graphd_client *client;
    CHECK(graphd_connect_unix(argv[1], &client) == GRAPHD_OK, "connect: %s", graphd_connect_error());
    CHECK(graphd_set_metadata(client, "request-id", "c-check") == GRAPHD_OK, "metadata");

    Graphd__V1__HealthRequest health_request = GRAPHD__V1__HEALTH_REQUEST__INIT;
    Graphd__V1__HealthResponse *health = NULL;
    int code = graphd_call(client, "graphd.v1.Graph", "Health", &health_request.base,
                           &graphd__v1__health_response__descriptor, 2000, (ProtobufCMessage **)&health);
    CHECK(code == GRAPHD_OK && health->status == GRAPHD__V1__SERVING_STATUS__SERVING_STATUS_SERVING, "Health: %d %s", code, graphd_last_error(client));
    protobuf_c_message_free_unpacked(&health->base, NULL);

    /* 60 interactions in one batch. */
    Graphd__V1__AddEdgesRequest add = GRAPHD__V1__ADD_EDGES_REQUEST__INIT;
    Graphd__V1__Edge *edges[60];
    char user[16], item[16];
    for (int i = 0; i < 60; i++) {
        snprintf(user, sizeof user, "c%d", i / 6);
        snprintf(item, sizeof item, "x%d", (i / 6 * 2 + i % 6) % 25);
        edges[i] = make_edge(user, item);
    }
    add.n_edges = 60;
    add.edges = edges;
    Graphd__V1__AddEdgesResponse *added = NULL;
    code = graphd_call(client, "graphd.v1.Graph", "AddEdges", &add.base, &graphd__v1__add_edges_response__descriptor, 5000, (ProtobufCMessage **)&added);
    CHECK(code == GRAPHD_OK && added->created == 60, "AddEdges: %d %s", code, graphd_last_error(client));
    protobuf_c_message_free_unpacked(&added->base, NULL);

    Graphd__V1__StatsRequest stats_request = GRAPHD__V1__STATS_REQUEST__INIT;
    Graphd__V1__StatsResponse *stats = NULL;
    code = graphd_call(client, "graphd.v1.Graph", "Stats", &stats_request.base, &graphd__v1__stats_response__descriptor, 2000, (ProtobufCMessage **)&stats);
    CHECK(code == GRAPHD_OK && stats->edges == 60 && stats->nodes == 34, "Stats: %d %s", code, graphd_last_error(client));
    protobuf_c_message_free_unpacked(&stats->base, NULL);

    Graphd__V1__NodeRef ref = GRAPHD__V1__NODE_REF__INIT;
    ref.type = "user";
    ref.key = "c1";
    Graphd__V1__RecommendRequest recommend = GRAPHD__V1__RECOMMEND_REQUEST__INIT;
    recommend.user = &ref;
    recommend.k = 5;
    Graphd__V1__RecommendResponse *recs = NULL;
    code = graphd_call(client, "graphd.v1.Recommend", "Recommend", &recommend.base, &graphd__v1__recommend_response__descriptor, 2000, (ProtobufCMessage **)&recs);
    CHECK(code == GRAPHD_OK && recs->n_items > 0, "Recommend: %d %s", code, graphd_last_error(client));
    protobuf_c_message_free_unpacked(&recs->base, NULL);

    /* Errors come back as codes with messages; the connection stays usable. */
    ref.key = "nobody";
    code = graphd_call(client, "graphd.v1.Recommend", "Recommend", &recommend.base, &graphd__v1__recommend_response__descriptor, 2000, (ProtobufCMessage **)&recs);
    CHECK(code == GRAPHD_NOT_FOUND && recs == NULL && strlen(graphd_last_error(client)) > 0, "unknown user: %d", code);
    recommend.k = 0;
    ref.key = "c1";
    code = graphd_call(client, "graphd.v1.Recommend", "Recommend", &recommend.base, &graphd__v1__recommend_response__descriptor, 2000, (ProtobufCMessage **)&recs);
    CHECK(code == GRAPHD_INVALID_ARGUMENT, "k = 0: %d", code);
    code = graphd_call(client, "graphd.v1.Graph", "NoSuchMethod", &stats_request.base, &graphd__v1__stats_response__descriptor, 2000, (ProtobufCMessage **)&stats);
    CHECK(code == GRAPHD_UNIMPLEMENTED, "unknown method: %d", code);
    code = graphd_call(client, "graphd.v1.Graph", "Stats", &stats_request.base, &graphd__v1__stats_response__descriptor, 2000, (ProtobufCMessage **)&stats);
    CHECK(code == GRAPHD_OK, "Stats after errors: %d %s", code, graphd_last_error(client));
    protobuf_c_message_free_unpacked(&stats->base, NULL);

    /* Routing: register an LLM by description and price, then ask for a decision. */
    Graphd__V1__LLMPrice price = GRAPHD__V1__LLMPRICE__INIT;
    price.per_call = 0.001;
    Graphd__V1__LLMInfo llm = GRAPHD__V1__LLMINFO__INIT;
    llm.name = "c-model";
    llm.description = "a model registered from C";
    llm.price = &price;
    Graphd__V1__AddLLMRequest add_llm = GRAPHD__V1__ADD_LLMREQUEST__INIT;
    add_llm.llm = &llm;
    Graphd__V1__AddLLMResponse *llm_added = NULL;
    code = graphd_call(client, "graphd.v1.Router", "AddLLM", &add_llm.base, &graphd__v1__add_llmresponse__descriptor, 2000, (ProtobufCMessage **)&llm_added);
    CHECK(code == GRAPHD_OK && llm_added->created, "AddLLM: %d %s", code, graphd_last_error(client));
    protobuf_c_message_free_unpacked(&llm_added->base, NULL);
    Graphd__V1__RouteRequest route = GRAPHD__V1__ROUTE_REQUEST__INIT;
    route.query = "What is the capital of France?";
    route.performance_weight = 1;
    Graphd__V1__RouteResponse *routed = NULL;
    code = graphd_call(client, "graphd.v1.Router", "Route", &route.base, &graphd__v1__route_response__descriptor, 2000, (ProtobufCMessage **)&routed);
    CHECK(code == GRAPHD_OK && strcmp(routed->llm, "c-model") == 0 && routed->n_ranked == 1, "Route: %d %s", code, graphd_last_error(client));
    protobuf_c_message_free_unpacked(&routed->base, NULL);
    route.performance_weight = -1;
    code = graphd_call(client, "graphd.v1.Router", "Route", &route.base, &graphd__v1__route_response__descriptor, 2000, (ProtobufCMessage **)&routed);
    CHECK(code == GRAPHD_INVALID_ARGUMENT, "Route with a negative weight: %d", code);

    /* Conversational retrieval: a prompt that holds the dialogue; no turns is INVALID_ARGUMENT. */
    Graphd__V1__DialogueTurn turn = GRAPHD__V1__DIALOGUE_TURN__INIT;
    turn.role = "SEEKER";
    turn.text = "Any good thrillers?";
    Graphd__V1__DialogueTurn *turns[1] = {&turn};
    Graphd__V1__RetrieveRequest retrieve = GRAPHD__V1__RETRIEVE_REQUEST__INIT;
    retrieve.n_turns = 1;
    retrieve.turns = turns;
    retrieve.k = 3;
    Graphd__V1__RetrieveResponse *retrieved = NULL;
    code = graphd_call(client, "graphd.v1.Conversation", "Retrieve", &retrieve.base, &graphd__v1__retrieve_response__descriptor, 2000, (ProtobufCMessage **)&retrieved);
    CHECK(code == GRAPHD_OK && retrieved->prompt && strstr(retrieved->prompt->text, "SEEKER: Any good thrillers?") != NULL,
          "Retrieve: %d %s", code, graphd_last_error(client));
    protobuf_c_message_free_unpacked(&retrieved->base, NULL);
    retrieve.n_turns = 0;
    code = graphd_call(client, "graphd.v1.Conversation", "Retrieve", &retrieve.base, &graphd__v1__retrieve_response__descriptor, 2000, (ProtobufCMessage **)&retrieved);
    CHECK(code == GRAPHD_INVALID_ARGUMENT, "Retrieve without turns: %d", code);
    graphd_close(client);

    graphd_client *missing;
    char path[600];
    snprintf(path, sizeof path, "%s.missing", argv[1]);
    CHECK(graphd_connect_unix(path, &missing) == GRAPHD_UNAVAILABLE && missing == NULL, "missing socket");
    for (int i = 0; i < 60; i++) {
        free(edges[i]->source->key);
        free(edges[i]->target->key);
        free(edges[i]->source);
        free(edges[i]->target);
        free(edges[i]);
    }
    printf("c client: all checks passed\n");
    return 0;
}
