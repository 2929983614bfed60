/*
 * How much of an event-loop client's round trip is the event loop's wake-up?
 *
 * Sends graphd.v1.Graph/Health over a graphd Unix socket, one request at a
 * time, two ways, alternated over rounds:
 *   blocking  write, then a blocking read() (the thread sleeps in the read);
 *   epoll     a non-blocking socket: write, then epoll_wait() and read(), as
 *             an event loop such as SwiftNIO's does.
 * The frames and the server are the same, so the difference is the kernel's
 * wake-up path for a thread parked in epoll_wait against one parked in read.
 * Prints each round's p50/p99 and their medians (microseconds).
 *
 *   cc -O2 -o /tmp/rpc-wakeup Benchmarks/rpc-wakeup.c
 *   /tmp/rpc-wakeup /tmp/graphd.sock [requests per round, 10000] [rounds, 5]
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int count) {
    qsort(values, count, sizeof *values, by_value);
    return values[count / 2];
}

static int connect_unix(const char *path) {
    struct sockaddr_un address = {0};
    address.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address.sun_path) return -1;
    strcpy(address.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0) return -1;
    return fd;
}

/* Reads at least `want` bytes into buffer; in epoll mode waits for readiness first. */
static int read_at_least(int fd, int epoll_fd, unsigned char *buffer, int have, int want, int capacity) {
    while (have < want) {
        if (epoll_fd >= 0) {
            struct epoll_event event;
            if (epoll_wait(epoll_fd, &event, 1, -1) < 0) return -1;
        }
        ssize_t got = read(fd, buffer + have, capacity - have);
        if (got > 0) have += (int)got;
        else if (got == 0) return -1;
    }
    return have;
}

/* One round: `requests` Health calls on a new connection; p50 and p99 in µs. */
static int round_trip_series(const char *path, int use_epoll, int requests, double *p50, double *p99) {
    static const unsigned char body[] = "\x0a\x0fgraphd.v1.Graph\x12\x06Health";
    const int body_length = sizeof body - 1;
    int fd = connect_unix(path);
    if (fd < 0) return -1;
    int epoll_fd = -1;
    if (use_epoll) {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        epoll_fd = epoll_create1(0);
        struct epoll_event event = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
    }
    double *samples = malloc(sizeof *samples * requests);
    unsigned char frame[64], reply[4096];
    int status = 0;
    for (int i = 0; i < requests && status == 0; i++) {
        uint32_t stream = 2 * (uint32_t)i + 1;
        uint32_t length = (uint32_t)body_length;
        unsigned char header[10] = {length >> 24, length >> 16, length >> 8, length,
                                    stream >> 24, stream >> 16, stream >> 8, stream, 1, 0};
        memcpy(frame, header, 10);
        memcpy(frame + 10, body, body_length);
        double start = now_us();
        if (write(fd, frame, 10 + body_length) != 10 + body_length) { status = -1; break; }
        int have = read_at_least(fd, epoll_fd, reply, 0, 10, sizeof reply);
        if (have < 0) { status = -1; break; }
        int total = 10 + (int)((reply[0] << 24) | (reply[1] << 16) | (reply[2] << 8) | reply[3]);
        if (total > (int)sizeof reply || read_at_least(fd, epoll_fd, reply, have, total, sizeof reply) < 0) { status = -1; break; }
        samples[i] = now_us() - start;
    }
    if (status == 0) {
        qsort(samples, requests, sizeof *samples, by_value);
        *p50 = samples[requests / 2];
        *p99 = samples[requests * 99 / 100];
    }
    free(samples);
    if (epoll_fd >= 0) close(epoll_fd);
    close(fd);
    return status;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SOCKET [requests per round] [rounds]\n", argv[0]);
        return 2;
    }
    int requests = argc > 2 ? atoi(argv[2]) : 10000, rounds = argc > 3 ? atoi(argv[3]) : 5;
    if (requests < 100 || rounds < 1 || rounds > 100) {
        fprintf(stderr, "requests must be ≥ 100 and rounds in 1…100\n");
        return 2;
    }
    double p50[2][100], p99[2][100];
    const char *names[2] = {"blocking", "epoll"};
    for (int r = 0; r < rounds; r++) {
        for (int mode = 0; mode < 2; mode++) {
            if (round_trip_series(argv[1], mode, requests, &p50[mode][r], &p99[mode][r]) != 0) {
                fprintf(stderr, "round trip to %s failed (is graphd serving there?)\n", argv[1]);
                return 1;
            }
            printf("round %d %-8s p50 %6.1f us  p99 %6.1f us\n", r + 1, names[mode], p50[mode][r], p99[mode][r]);
        }
    }
    double b50 = median(p50[0], rounds), b99 = median(p99[0], rounds);
    double e50 = median(p50[1], rounds), e99 = median(p99[1], rounds);
    printf("median blocking p50 %.1f us  p99 %.1f us\n", b50, b99);
    printf("median epoll    p50 %.1f us  p99 %.1f us  (p50 +%.1f us, ×%.2f)\n", e50, e99, e50 - b50, e50 / b50);
    return 0;
}
