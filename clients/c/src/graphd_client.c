/* graphd C client: ttrpc framing over a stream socket. See graphd_client.h. */
#define _GNU_SOURCE
#include "graphd_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ttrpc/ttrpc.pb-c.h"

#define MESSAGE_REQUEST 1
#define MESSAGE_RESPONSE 2
#define HEADER_SIZE 10
#define MAX_METADATA 16

struct graphd_client {
    int fd;
    int tls_wanted;                  /* connected with graphd_connect_tls: a followed primary is too */
    char *tls_ca;                    /* its CA file (NULL: the system's roots) */
    SSL_CTX *tls_context;            /* NULL for a plain connection */
    SSL *tls;                        /* the session; the socket is non-blocking under it */
    uint32_t next_stream;            /* odd, as the protocol requires of clients */
    char error[512];
    size_t n_metadata;
    char *metadata_keys[MAX_METADATA];
    char *metadata_values[MAX_METADATA];
    int follow_primary;
    int read_your_writes;
    uint64_t highest_log_sequence;
    char *primary_address;           /* the primary a write was followed to, and its connection */
    graphd_client *primary;
};

static _Thread_local char connect_error[512];

const char *graphd_connect_error(void) { return connect_error; }

const char *graphd_last_error(const graphd_client *client) { return client ? client->error : "no client"; }

static int fail(graphd_client *client, int code, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(client->error, sizeof client->error, format, args);
    va_end(args);
    return code;
}

static int finish_connect(int fd, graphd_client **out) {
    graphd_client *client = calloc(1, sizeof *client);
    if (!client) {
        close(fd);
        snprintf(connect_error, sizeof connect_error, "out of memory");
        return GRAPHD_RESOURCE_EXHAUSTED;
    }
    client->fd = fd;
    client->next_stream = 1;
    client->follow_primary = 1;
    *out = client;
    return GRAPHD_OK;
}

int graphd_connect_unix(const char *path, graphd_client **out) {
    *out = NULL;
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof address.sun_path) {
        snprintf(connect_error, sizeof connect_error, "socket path is longer than %zu bytes", sizeof address.sun_path - 1);
        return GRAPHD_INVALID_ARGUMENT;
    }
    strcpy(address.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        snprintf(connect_error, sizeof connect_error, "cannot connect to %s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return GRAPHD_UNAVAILABLE;
    }
    return finish_connect(fd, out);
}

/* A connected TCP socket to host:port, or -1 with connect_error set. */
static int tcp_socket(const char *host, uint16_t port) {
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *found = NULL;
    int status = getaddrinfo(host, service, &hints, &found);
    if (status != 0) {
        snprintf(connect_error, sizeof connect_error, "cannot resolve %s: %s", host, gai_strerror(status));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = found; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
        if (fd >= 0) close(fd);
        fd = -1;
    }
    freeaddrinfo(found);
    if (fd < 0) snprintf(connect_error, sizeof connect_error, "cannot connect to %s:%u: %s", host, port, strerror(errno));
    return fd;
}

int graphd_connect_tcp(const char *host, uint16_t port, graphd_client **out) {
    *out = NULL;
    int fd = tcp_socket(host, port);
    if (fd < 0) return GRAPHD_UNAVAILABLE;
    return finish_connect(fd, out);
}

/* OpenSSL's most recent error as text, after `what`. */
static void tls_connect_error(const char *what, const char *host, uint16_t port) {
    char reason[256] = "";
    unsigned long code = ERR_get_error();
    if (code) ERR_error_string_n(code, reason, sizeof reason);
    ERR_clear_error();
    snprintf(connect_error, sizeof connect_error, "TLS to %s:%u: %s%s%s", host, port, what, reason[0] ? ": " : "", reason);
}

int graphd_connect_tls(const char *host, uint16_t port, const char *ca_file, graphd_client **out) {
    *out = NULL;
    SSL_CTX *context = SSL_CTX_new(TLS_client_method());
    if (!context) {
        tls_connect_error("cannot create a TLS context", host, port);
        return GRAPHD_UNAVAILABLE;
    }
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
    if ((ca_file ? SSL_CTX_load_verify_locations(context, ca_file, NULL) : SSL_CTX_set_default_verify_paths(context)) != 1) {
        tls_connect_error(ca_file ? "cannot load the CA file" : "cannot load the system's CA certificates", host, port);
        SSL_CTX_free(context);
        return GRAPHD_UNAVAILABLE;
    }
    int fd = tcp_socket(host, port);
    if (fd < 0) {
        SSL_CTX_free(context);
        return GRAPHD_UNAVAILABLE;
    }
    SSL *tls = SSL_new(context);
    if (!tls) {
        tls_connect_error("cannot create a TLS session", host, port);
        SSL_CTX_free(context);
        close(fd);
        return GRAPHD_UNAVAILABLE;
    }
    /* The certificate must name `host` (a DNS name or an IP address); SNI tells graphd which name was asked for. */
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(host);
    int named = ip ? X509_VERIFY_PARAM_set1_ip(SSL_get0_param(tls), ASN1_STRING_get0_data(ip), (size_t)ASN1_STRING_length(ip))
                   : SSL_set1_host(tls, host) && SSL_set_tlsext_host_name(tls, host);
    ASN1_OCTET_STRING_free(ip);
    if (!named || SSL_set_fd(tls, fd) != 1 || SSL_connect(tls) != 1) {
        long verify = SSL_get_verify_result(tls);
        if (verify != X509_V_OK) {
            snprintf(connect_error, sizeof connect_error, "TLS to %s:%u: graphd's certificate was refused: %s", host, port,
                     X509_verify_cert_error_string(verify));
            ERR_clear_error();
        } else {
            tls_connect_error("handshake failed", host, port);
        }
        SSL_free(tls);
        SSL_CTX_free(context);
        close(fd);
        return GRAPHD_UNAVAILABLE;
    }
    /* Reads and writes wait in poll, so that the call deadline holds mid-record too. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    int status = finish_connect(fd, out);
    if (status != GRAPHD_OK) {
        SSL_free(tls);
        SSL_CTX_free(context);
        return status;
    }
    (*out)->tls_context = context;
    (*out)->tls = tls;
    (*out)->tls_wanted = 1;
    (*out)->tls_ca = ca_file ? strdup(ca_file) : NULL;
    return GRAPHD_OK;
}

int graphd_set_metadata(graphd_client *client, const char *key, const char *value) {
    if (client->n_metadata == MAX_METADATA) return fail(client, GRAPHD_RESOURCE_EXHAUSTED, "at most %d metadata entries", MAX_METADATA);
    client->metadata_keys[client->n_metadata] = strdup(key);
    client->metadata_values[client->n_metadata] = strdup(value);
    client->n_metadata++;
    return GRAPHD_OK;
}

void graphd_set_follow_primary(graphd_client *client, int on) { client->follow_primary = on; }
void graphd_set_read_your_writes(graphd_client *client, int on) { client->read_your_writes = on; }
uint64_t graphd_highest_log_sequence(const graphd_client *client) { return client->highest_log_sequence; }

static void forget_primary(graphd_client *client) {
    graphd_close(client->primary);
    client->primary = NULL;
    free(client->primary_address);
    client->primary_address = NULL;
}

void graphd_close(graphd_client *client) {
    if (!client) return;
    forget_primary(client);
    free(client->tls_ca);
    if (client->tls) {
        SSL_shutdown(client->tls); /* best effort: graphd closes its side anyway */
        SSL_free(client->tls);
        SSL_CTX_free(client->tls_context);
        ERR_clear_error();
    }
    close(client->fd);
    for (size_t i = 0; i < client->n_metadata; i++) {
        free(client->metadata_keys[i]);
        free(client->metadata_values[i]);
    }
    free(client);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the socket is ready for `events` or the deadline (ms, monotonic; < 0 = none) passes. */
static int wait_ready(graphd_client *client, short events, int64_t deadline) {
    for (;;) {
        int wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - now_ms();
            if (left <= 0) return fail(client, GRAPHD_DEADLINE_EXCEEDED, "no answer before the deadline");
            wait = (int)left;
        }
        struct pollfd p = {.fd = client->fd, .events = events};
        int ready = poll(&p, 1, wait);
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) return fail(client, GRAPHD_UNAVAILABLE, "poll failed: %s", strerror(errno));
        if (ready == 0) return fail(client, GRAPHD_DEADLINE_EXCEEDED, "no answer before the deadline");
        return GRAPHD_OK;
    }
}

/* A TLS read or write that returned `n`: GRAPHD_OK to retry once the socket is
   ready (the poll done here), else the error. */
static int tls_retry(graphd_client *client, int n, int64_t deadline, const char *what) {
    int error = SSL_get_error(client->tls, n);
    if (error == SSL_ERROR_WANT_READ) return wait_ready(client, POLLIN, deadline);
    if (error == SSL_ERROR_WANT_WRITE) return wait_ready(client, POLLOUT, deadline);
    char reason[256] = "";
    unsigned long code = ERR_get_error();
    if (code) ERR_error_string_n(code, reason, sizeof reason);
    ERR_clear_error();
    if (error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && !code && errno == 0))
        return fail(client, GRAPHD_UNAVAILABLE, "graphd closed the connection");
    return fail(client, GRAPHD_UNAVAILABLE, "TLS %s failed: %s", what, reason[0] ? reason : strerror(errno));
}

/* Writes all of buffer; GRAPHD_OK or GRAPHD_UNAVAILABLE. */
static int write_all(graphd_client *client, const uint8_t *buffer, size_t length) {
    while (length > 0) {
        if (client->tls) {
            int n = SSL_write(client->tls, buffer, length > INT32_MAX ? INT32_MAX : (int)length);
            if (n <= 0) {
                int status = tls_retry(client, n, -1, "write");
                if (status != GRAPHD_OK) return status;
                continue;
            }
            buffer += n;
            length -= (size_t)n;
            continue;
        }
        ssize_t n = send(client->fd, buffer, length, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return fail(client, GRAPHD_UNAVAILABLE, "send failed: %s", strerror(errno));
        buffer += n;
        length -= (size_t)n;
    }
    return GRAPHD_OK;
}

/* Reads exactly length bytes before the deadline (ms, monotonic; < 0 = none). */
static int read_all(graphd_client *client, uint8_t *buffer, size_t length, int64_t deadline) {
    while (length > 0) {
        if (client->tls) {
            /* Bytes OpenSSL already decrypted are read without waiting for the socket. */
            int n = SSL_read(client->tls, buffer, length > INT32_MAX ? INT32_MAX : (int)length);
            if (n <= 0) {
                int status = tls_retry(client, n, deadline, "read");
                if (status != GRAPHD_OK) return status;
                continue;
            }
            buffer += n;
            length -= (size_t)n;
            continue;
        }
        int status = wait_ready(client, POLLIN, deadline);
        if (status != GRAPHD_OK) return status;
        ssize_t n = recv(client->fd, buffer, length, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) return fail(client, GRAPHD_UNAVAILABLE, "graphd closed the connection");
        if (n < 0) return fail(client, GRAPHD_UNAVAILABLE, "recv failed: %s", strerror(errno));
        buffer += n;
        length -= (size_t)n;
    }
    return GRAPHD_OK;
}

/* One call on this connection; `extra` is one more metadata entry (key NULL: none). */
static int call_here(graphd_client *client, const char *service, const char *method,
                     const ProtobufCMessage *request, const ProtobufCMessageDescriptor *response_type,
                     int timeout_ms, const char *extra_key, const char *extra_value, ProtobufCMessage **response) {
    *response = NULL;
    client->error[0] = '\0';
    /* The envelope: service, method, payload, deadline, metadata. */
    size_t payload_length = protobuf_c_message_get_packed_size(request);
    if (payload_length > GRAPHD_MAX_MESSAGE) {
        return fail(client, GRAPHD_RESOURCE_EXHAUSTED, "request of %zu bytes exceeds the %u-byte limit", payload_length, GRAPHD_MAX_MESSAGE);
    }
    uint8_t *payload = malloc(payload_length ? payload_length : 1);
    if (!payload) return fail(client, GRAPHD_RESOURCE_EXHAUSTED, "out of memory");
    protobuf_c_message_pack(request, payload);
    Ttrpc__Request envelope = TTRPC__REQUEST__INIT;
    envelope.service = (char *)service;
    envelope.method = (char *)method;
    envelope.payload.data = payload;
    envelope.payload.len = payload_length;
    envelope.timeout_nano = timeout_ms > 0 ? (int64_t)timeout_ms * 1000000 : 0;
    Ttrpc__KeyValue entries[MAX_METADATA + 1], *pointers[MAX_METADATA + 1];
    size_t n_metadata = 0;
    for (size_t i = 0; i < client->n_metadata; i++, n_metadata++) {
        ttrpc__key_value__init(&entries[i]);
        entries[i].key = client->metadata_keys[i];
        entries[i].value = client->metadata_values[i];
        pointers[i] = &entries[i];
    }
    if (extra_key) {
        ttrpc__key_value__init(&entries[n_metadata]);
        entries[n_metadata].key = (char *)extra_key;
        entries[n_metadata].value = (char *)extra_value;
        pointers[n_metadata] = &entries[n_metadata];
        n_metadata++;
    }
    envelope.n_metadata = n_metadata;
    envelope.metadata = pointers;
    size_t length = ttrpc__request__get_packed_size(&envelope);
    if (length > GRAPHD_MAX_MESSAGE) {
        free(payload);
        return fail(client, GRAPHD_RESOURCE_EXHAUSTED, "request of %zu bytes exceeds the %u-byte limit", length, GRAPHD_MAX_MESSAGE);
    }
    uint8_t *frame = malloc(HEADER_SIZE + length);
    if (!frame) {
        free(payload);
        return fail(client, GRAPHD_RESOURCE_EXHAUSTED, "out of memory");
    }
    uint32_t stream = client->next_stream;
    client->next_stream += 2;
    uint32_t be_length = htonl((uint32_t)length), be_stream = htonl(stream);
    memcpy(frame, &be_length, 4);
    memcpy(frame + 4, &be_stream, 4);
    frame[8] = MESSAGE_REQUEST;
    frame[9] = 0;
    ttrpc__request__pack(&envelope, frame + HEADER_SIZE);
    free(payload);
    int status = write_all(client, frame, HEADER_SIZE + length);
    free(frame);
    if (status != GRAPHD_OK) return status;

    /* Frames until the response to this stream; anything else is skipped. */
    int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : -1;
    for (;;) {
        uint8_t header[HEADER_SIZE];
        if ((status = read_all(client, header, HEADER_SIZE, deadline)) != GRAPHD_OK) return status;
        uint32_t got_length, got_stream;
        memcpy(&got_length, header, 4);
        memcpy(&got_stream, header + 4, 4);
        got_length = ntohl(got_length);
        got_stream = ntohl(got_stream);
        if (got_length > GRAPHD_MAX_MESSAGE) {
            return fail(client, GRAPHD_RESOURCE_EXHAUSTED, "response frame of %u bytes exceeds the limit", got_length);
        }
        uint8_t *body = malloc(got_length ? got_length : 1);
        if (!body) return fail(client, GRAPHD_RESOURCE_EXHAUSTED, "out of memory");
        if ((status = read_all(client, body, got_length, deadline)) != GRAPHD_OK) {
            free(body);
            return status;
        }
        if (header[8] != MESSAGE_RESPONSE || got_stream != stream) {
            free(body);
            continue;
        }
        Ttrpc__Response *envelope_in = ttrpc__response__unpack(NULL, got_length, body);
        free(body);
        if (!envelope_in) return fail(client, GRAPHD_INTERNAL, "malformed ttrpc response");
        int code = envelope_in->status ? envelope_in->status->code : GRAPHD_OK;
        if (code != GRAPHD_OK) {
            fail(client, code, "%s", envelope_in->status->message ? envelope_in->status->message : "");
            ttrpc__response__free_unpacked(envelope_in, NULL);
            return code;
        }
        *response = protobuf_c_message_unpack(response_type, NULL, envelope_in->payload.len, envelope_in->payload.data);
        ttrpc__response__free_unpacked(envelope_in, NULL);
        if (!*response) return fail(client, GRAPHD_INTERNAL, "malformed %s payload", response_type->name);
        return GRAPHD_OK;
    }
}

/* The methods a replica refuses. */
static int is_write(const char *service, const char *method) {
    static const char *const writes[][2] = {
        {"graphd.v1.Graph", "DefineTypes"}, {"graphd.v1.Graph", "AddNodes"}, {"graphd.v1.Graph", "AddEdges"},
        {"graphd.v1.Graph", "RemoveNodes"}, {"graphd.v1.Graph", "RemoveEdges"}, {"graphd.v1.Router", "Feedback"},
        {"graphd.v1.Router", "AddLLM"}, {"graphd.v1.Router", "RemoveLLM"}, {"graphd.v1.Router", "Train"},
        {"graphd.v1.Router", "SetTask"}, {"graphd.v1.Conversation", "TrainReasoner"}, {"graphd.v1.Conversation", "AddConversation"},
    };
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        if (strcmp(service, writes[i][0]) == 0 && strcmp(method, writes[i][1]) == 0) return 1;
    }
    return 0;
}

#define PRIMARY_MARKER "send writes to the primary at "

/* A connection to the primary a refusal names, made like `client`'s (kept). */
static graphd_client *connect_primary(graphd_client *client, const char *refusal) {
    const char *at = NULL;
    for (const char *p = strstr(refusal, PRIMARY_MARKER); p; p = strstr(p + 1, PRIMARY_MARKER)) at = p;
    if (!at) return NULL;
    const char *address = at + strlen(PRIMARY_MARKER);
    if (client->primary && strcmp(client->primary_address, address) == 0) return client->primary;
    graphd_client *primary = NULL;
    int status = GRAPHD_UNAVAILABLE, attempted = 0;
    if (strncmp(address, "unix:", 5) == 0 && !client->tls_wanted) {
        attempted = 1;
        status = graphd_connect_unix(address + 5, &primary);
    } else if (strncmp(address, "tcp:", 4) == 0) {
        const char *colon = strrchr(address + 4, ':');
        char host[256];
        size_t host_length = colon ? (size_t)(colon - (address + 4)) : 0;
        long port = colon ? strtol(colon + 1, NULL, 10) : 0;
        if (host_length > 0 && host_length < sizeof host && port > 0 && port < 65536) {
            memcpy(host, address + 4, host_length);
            host[host_length] = '\0';
            if (host[0] == '[' && host_length > 2 && host[host_length - 1] == ']') {
                memmove(host, host + 1, host_length - 2);
                host[host_length - 2] = '\0';
            }
            attempted = 1;
            status = client->tls_wanted ? graphd_connect_tls(host, (uint16_t)port, client->tls_ca, &primary)
                                        : graphd_connect_tcp(host, (uint16_t)port, &primary);
        }
    }
    if (status != GRAPHD_OK) {
        fail(client, GRAPHD_UNAVAILABLE, "%s; cannot reach that primary: %s", refusal,
             attempted ? connect_error : "an address this client cannot use");
        return NULL;
    }
    primary->follow_primary = 0;
    for (size_t i = 0; i < client->n_metadata; i++) graphd_set_metadata(primary, client->metadata_keys[i], client->metadata_values[i]);
    forget_primary(client);
    client->primary = primary;
    client->primary_address = strdup(address);
    return primary;
}

/* The log_sequence field of a write's reply (every write reply has one). */
static uint64_t log_sequence_of(const ProtobufCMessage *message) {
    const ProtobufCFieldDescriptor *field = protobuf_c_message_descriptor_get_field_by_name(message->descriptor, "log_sequence");
    if (!field || field->type != PROTOBUF_C_TYPE_UINT64) return 0;
    uint64_t value;
    memcpy(&value, (const uint8_t *)message + field->offset, sizeof value);
    return value;
}

int graphd_call(graphd_client *client, const char *service, const char *method,
                const ProtobufCMessage *request, const ProtobufCMessageDescriptor *response_type,
                int timeout_ms, ProtobufCMessage **response) {
    int write = is_write(service, method);
    char sequence[24] = "";
    const char *extra_key = NULL;
    if (client->read_your_writes && !write && client->highest_log_sequence > 0) {
        snprintf(sequence, sizeof sequence, "%llu", (unsigned long long)client->highest_log_sequence);
        extra_key = "min-log-sequence";
    }
    graphd_client *target = write && client->primary ? client->primary : client;
    int code = call_here(target, service, method, request, response_type, timeout_ms, extra_key, sequence, response);
    if (code != GRAPHD_OK && target != client) {
        snprintf(client->error, sizeof client->error, "%s", target->error);
        if (code == GRAPHD_UNAVAILABLE) forget_primary(client); /* the next write goes to this client's graphd again */
    } else if (code == GRAPHD_FAILED_PRECONDITION && write && client->follow_primary) {
        char refusal[sizeof client->error];
        snprintf(refusal, sizeof refusal, "%s", client->error);
        graphd_client *primary = connect_primary(client, refusal);
        if (!primary) return strstr(refusal, PRIMARY_MARKER) ? GRAPHD_UNAVAILABLE : code;
        code = call_here(primary, service, method, request, response_type, timeout_ms, extra_key, sequence, response);
        if (code != GRAPHD_OK) snprintf(client->error, sizeof client->error, "%s", primary->error);
    }
    if (code == GRAPHD_OK && write) {
        uint64_t written = log_sequence_of(*response);
        if (written > client->highest_log_sequence) client->highest_log_sequence = written;
    }
    return code;
}
