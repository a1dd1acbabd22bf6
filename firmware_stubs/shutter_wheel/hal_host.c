/* hal_host.c - the HAL for running the firmware as a host process under device_sim.
 *
 * UART: the pty master whose fd number is argv[1] (device_sim keeps the slave side).
 * GPIO: every output change is written to stdout as "G <pin> <level> <seq>" and the HAL waits
 *       for "A <seq> <inputs>" on stdin, so the simulated World has moved (and the input pins
 *       reflect it) before the firmware reads its sensors: a lock-step co-simulation.
 * stdin also carries "I <inputs>" (an input changed on its own) and "F <name> <value>" wire
 *       faults on the UART: latency_ms, drop (next n responses), garble (next n responses).
 * EOF on stdin ends the process (device_sim stopped or unplugged the device).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "firmware.h"
#include "hal.h"

static int uart_fd = -1;
static unsigned inputs;
static unsigned seq;
static long latency_ms;
static long drop_count;
static long garble_count;
static unsigned garble_seed = 12345u;
static char ctl[256];
static size_t ctl_len;
static struct timespec start;

static void handle_control(const char *msg, int *acked) {
    unsigned a, b;
    char name[32];
    long value;
    if (sscanf(msg, "A %u %u", &a, &b) == 2) {
        inputs = b;
        if (acked && a == seq) *acked = 1;
    } else if (sscanf(msg, "I %u", &b) == 1) {
        inputs = b;
    } else if (sscanf(msg, "F %31s %ld", name, &value) == 2) {
        if (!strcmp(name, "latency_ms")) latency_ms = value;
        else if (!strcmp(name, "drop")) drop_count = value;
        else if (!strcmp(name, "garble")) garble_count = value;
        else fprintf(stderr, "hal_host: unknown fault %s\n", name);
    } else {
        fprintf(stderr, "hal_host: bad control line %s\n", msg);
    }
}

/* Read what stdin has (waiting up to timeout_ms); returns 0 at EOF. */
static int pump_control(int timeout_ms, int *acked) {
    struct pollfd p = {STDIN_FILENO, POLLIN, 0};
    char buf[256];
    ssize_t i, n;
    if (poll(&p, 1, timeout_ms) <= 0) return 1;
    n = read(STDIN_FILENO, buf, sizeof buf);
    if (n <= 0) return n < 0 && errno == EINTR;
    for (i = 0; i < n; ++i) {
        if (buf[i] == '\n') {
            ctl[ctl_len] = 0;
            handle_control(ctl, acked);
            ctl_len = 0;
        } else if (ctl_len < sizeof ctl - 1) {
            ctl[ctl_len++] = buf[i];
        }
    }
    return 1;
}

size_t hal_uart_read(uint8_t *buf, size_t max) {
    ssize_t n = read(uart_fd, buf, max);
    return n > 0 ? (size_t)n : 0;
}

void hal_uart_write(const uint8_t *buf, size_t len) {
    uint8_t out[512];
    size_t i, done = 0;
    if (len > sizeof out) len = sizeof out;
    memcpy(out, buf, len);
    if (drop_count > 0) { --drop_count; return; }
    if (garble_count > 0) { /* flip bits of everything but the "> " prompt */
        --garble_count;
        for (i = 0; i + 2 < len; ++i) {
            garble_seed = garble_seed * 1103515245u + 12345u;
            out[i] ^= (uint8_t)(0x80u | ((garble_seed >> 16) & 0x7Fu));
        }
    }
    if (latency_ms > 0) {
        struct timespec d = {latency_ms / 1000, (latency_ms % 1000) * 1000000L};
        nanosleep(&d, NULL);
    }
    while (done < len) {
        ssize_t n = write(uart_fd, out + done, len - done);
        if (n > 0) done += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EINTR) return;
        else { struct pollfd p = {uart_fd, POLLOUT, 0}; poll(&p, 1, 10); }
    }
}

void hal_gpio_write(uint8_t pin, uint8_t level) {
    int acked = 0;
    uint32_t t0 = hal_millis();
    printf("G %u %u %u\n", pin, level, ++seq);
    fflush(stdout);
    while (!acked) {
        if (!pump_control(100, &acked) || hal_millis() - t0 > 2000u) exit(0); /* simulator gone */
    }
}

uint8_t hal_gpio_read(uint8_t pin) { return (uint8_t)((inputs >> pin) & 1u); }

uint32_t hal_millis(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint32_t)((now.tv_sec - start.tv_sec) * 1000L + (now.tv_nsec - start.tv_nsec) / 1000000L);
}

int main(int argc, char **argv) {
    if (argc != 2 || (uart_fd = atoi(argv[1])) < 3) {
        fprintf(stderr, "usage: %s <pty master fd>\n", argv[0]);
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &start);
    fw_init();
    for (;;) {
        struct pollfd p[2] = {{uart_fd, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
        poll(p, 2, fw_idle() ? -1 : 1); /* a 1 ms tick only while a move or a settle is timed */
        if ((p[1].revents & (POLLIN | POLLHUP)) && !pump_control(0, NULL)) return 0;
        fw_poll();
    }
}
