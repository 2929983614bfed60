#define _POSIX_C_SOURCE 200809L
/* Drives graphd's TLS listener through the C client; exits non-zero on the first failure.
   usage: check_tls PORT CA_FILE TOKEN   (graphd listening on 127.0.0.1:PORT with a certificate for
   localhost and 127.0.0.1 that CA_FILE holds; the Swift end-to-end suite starts it and runs this) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphd_client.h"
#include "graphd/v1/graph.pb-c.h"

#define CHECK(condition, ...) do { if (!(condition)) { fprintf(stderr, "FAILED %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); exit(1); } } while (0)

/* Health over `client`: the status code, and the serving status when it answered. */
static int health(graphd_client *client, int *serving) {
    Graphd__V1__HealthRequest request = GRAPHD__V1__HEALTH_REQUEST__INIT;
    Graphd__V1__HealthResponse *response = NULL;
    int code = graphd_call(client, "graphd.v1.Graph", "Health", &request.base, &graphd__v1__health_response__descriptor, 3000,
                           (ProtobufCMessage **)&response);
    if (code == GRAPHD_OK) {
        *serving = response->status == GRAPHD__V1__SERVING_STATUS__SERVING_STATUS_SERVING;
        protobuf_c_message_free_unpacked(&response->base, NULL);
    }
    return code;
}

int main(int argc, char **argv) {
    CHECK(argc == 4, "usage: check_tls PORT CA_FILE TOKEN");
    uint16_t port = (uint16_t)atoi(argv[1]);
    const char *ca = argv[2];
    char bearer[256];
    snprintf(bearer, sizeof bearer, "Bearer %s", argv[3]);
    int serving = 0;

    /* By DNS name and by IP address, with the token: served. */
    const char *hosts[] = {"localhost", "127.0.0.1"};
    for (int i = 0; i < 2; i++) {
        graphd_client *client;
        CHECK(graphd_connect_tls(hosts[i], port, ca, &client) == GRAPHD_OK, "connect %s: %s", hosts[i], graphd_connect_error());
        CHECK(graphd_set_metadata(client, "authorization", bearer) == GRAPHD_OK, "metadata");
        for (int call = 0; call < 3; call++) {
            int code = health(client, &serving);
            CHECK(code == GRAPHD_OK && serving, "health over TLS to %s: code %d, %s", hosts[i], code, graphd_last_error(client));
        }
        graphd_close(client);
    }

    /* TLS does not replace the token. */
    graphd_client *tokenless;
    CHECK(graphd_connect_tls("localhost", port, ca, &tokenless) == GRAPHD_OK, "connect: %s", graphd_connect_error());
    int code = health(tokenless, &serving);
    CHECK(code == GRAPHD_UNAUTHENTICATED, "without the token: code %d, %s", code, graphd_last_error(tokenless));
    graphd_close(tokenless);

    /* The system's roots do not vouch for this certificate: refused at connect, saying why. */
    graphd_client *stranger = NULL;
    CHECK(graphd_connect_tls("localhost", port, NULL, &stranger) == GRAPHD_UNAVAILABLE && stranger == NULL,
          "an untrusted certificate was accepted");
    CHECK(strstr(graphd_connect_error(), "certificate") != NULL, "error: %s", graphd_connect_error());

    /* A CA file that does not exist. */
    CHECK(graphd_connect_tls("localhost", port, "/nonexistent/ca.pem", &stranger) == GRAPHD_UNAVAILABLE, "a missing CA file was accepted");
    CHECK(strstr(graphd_connect_error(), "CA file") != NULL, "error: %s", graphd_connect_error());

    /* Plain TCP to the TLS port gets no answer. */
    graphd_client *plain;
    CHECK(graphd_connect_tcp("127.0.0.1", port, &plain) == GRAPHD_OK, "plain connect: %s", graphd_connect_error());
    CHECK(graphd_set_metadata(plain, "authorization", bearer) == GRAPHD_OK, "metadata");
    code = health(plain, &serving);
    CHECK(code != GRAPHD_OK, "plain TCP to the TLS port was answered");
    graphd_close(plain);

    printf("tls checks passed\n");
    return 0;
}
