/*
 * kafka-mock: librdkafka's mock Kafka cluster as a standalone process, so that tests
 * can point real producers and consumers at it over loopback TCP and inject faults.
 *
 *   kafka-mock [--brokers N] [--topic NAME[:PARTITIONS]]... [--control-port PORT]
 *
 * When ready it prints "CONTROL=127.0.0.1:PORT" (with --control-port; 0 picks a free
 * port) and then "BOOTSTRAP=host:port,…" on stdout. It then reads fault commands
 * (see mock_commands.h), one per line, from stdin and from every connection to the
 * control port, and answers each with one line. It exits on SIGTERM, SIGINT, "quit",
 * or end of stdin when no control port was asked for (with one, stdin may be closed
 * and the process keeps serving the control port).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "tests/kafka_mock/mock_commands.h"

#define KMOCK_MAX_TOPICS  32
#define KMOCK_MAX_CLIENTS 16
#define KMOCK_LINE_MAX    1024

struct topic_spec {
    char name[250];
    int partitions;
};

struct options {
    int brokers;
    int control_port; /* -1: none */
    struct topic_spec topics[KMOCK_MAX_TOPICS];
    int topic_count;
};

/* One line-oriented command source: stdin or a control connection. */
struct line_source {
    int fd;          /* -1 when closed */
    int reply_fd;
    char buf[KMOCK_LINE_MAX];
    size_t len;
    bool discarding; /* inside an overlong line */
};

struct mock_process {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *cluster;
    int broker_count;
    int signal_fd;
    int listen_fd;
    bool stdin_ends_process;
    struct line_source stdin_source;
    struct line_source clients[KMOCK_MAX_CLIENTS];
    bool quit;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: kafka-mock [--brokers N] [--topic NAME[:PARTITIONS]]... "
                 "[--control-port PORT]\n"
                 "  --brokers N         number of mock brokers (default 3)\n"
                 "  --topic NAME[:P]    create a topic up front with P partitions (default 1)\n"
                 "  --control-port P    also read commands from TCP 127.0.0.1:P (0: any)\n"
                 "commands: down|up <id|all>, rtt <id|all> <ms>, "
                 "error <ApiName> <ERROR_NAME> <count>,\n"
                 "          leader <topic> <partition> <id>, quit\n");
}

static int parse_number(const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (!*text || errno || *end || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

static int parse_topic(const char *arg, struct topic_spec *topic, char *errstr, size_t size)
{
    const char *colon = strrchr(arg, ':');
    size_t name_len = colon ? (size_t)(colon - arg) : strlen(arg);
    long partitions = 1;
    if (name_len == 0 || name_len >= sizeof topic->name) {
        snprintf(errstr, size, "--topic '%s': the name must have 1..%zu characters", arg,
                 sizeof topic->name - 1);
        return -1;
    }
    if (colon && parse_number(colon + 1, 1, 10000, &partitions) != 0) {
        snprintf(errstr, size, "--topic '%s': partitions '%s' is not a number in 1..10000", arg,
                 colon + 1);
        return -1;
    }
    memcpy(topic->name, arg, name_len);
    topic->name[name_len] = '\0';
    topic->partitions = (int)partitions;
    return 0;
}

/* Returns 0 to run, 1 after --help, -1 on bad arguments (errstr set). */
static int parse_options(int argc, char **argv, struct options *opts, char *errstr, size_t size)
{
    long value;
    opts->brokers = 3;
    opts->control_port = -1;
    opts->topic_count = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        if (i + 1 >= argc) {
            snprintf(errstr, size, "unknown option or missing value: '%s'", arg);
            return -1;
        }
        const char *val = argv[++i];
        if (strcmp(arg, "--brokers") == 0) {
            if (parse_number(val, 1, 64, &value) != 0) {
                snprintf(errstr, size, "--brokers '%s' is not a number in 1..64", val);
                return -1;
            }
            opts->brokers = (int)value;
        } else if (strcmp(arg, "--control-port") == 0) {
            if (parse_number(val, 0, 65535, &value) != 0) {
                snprintf(errstr, size, "--control-port '%s' is not a port in 0..65535", val);
                return -1;
            }
            opts->control_port = (int)value;
        } else if (strcmp(arg, "--topic") == 0) {
            if (opts->topic_count == KMOCK_MAX_TOPICS) {
                snprintf(errstr, size, "at most %d --topic options", KMOCK_MAX_TOPICS);
                return -1;
            }
            if (parse_topic(val, &opts->topics[opts->topic_count], errstr, size) != 0)
                return -1;
            opts->topic_count++;
        } else {
            snprintf(errstr, size, "unknown option '%s'", arg);
            return -1;
        }
    }
    return 0;
}

static int open_listener(int port, int *bound_port, char *errstr, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(errstr, size, "control socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        snprintf(errstr, size, "control port 127.0.0.1:%d: %s", port, strerror(errno));
        close(fd);
        return -1;
    }
    *bound_port = ntohs(addr.sin_port);
    return fd;
}

static void write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the peer went away; its source is closed on the next read */
        data += n;
        len -= (size_t)n;
    }
}

static void answer_line(struct mock_process *proc, struct line_source *src, const char *line)
{
    char reply[600];
    enum mock_command_result result =
        mock_command_execute(proc->cluster, proc->broker_count, line, reply, sizeof reply - 1);
    if (result == MOCK_COMMAND_IGNORED)
        return;
    fprintf(stderr, "kafka-mock: %s -> %s\n", line, reply);
    strcat(reply, "\n");
    write_all(src->reply_fd, reply, strlen(reply));
    if (result == MOCK_COMMAND_QUIT)
        proc->quit = true;
}

static void source_close(struct line_source *src)
{
    if (src->fd >= 0 && src->fd != STDIN_FILENO)
        close(src->fd);
    src->fd = -1;
    src->len = 0;
    src->discarding = false;
}

/* Reads what is available and answers every complete line; returns false at EOF. */
static bool source_read(struct mock_process *proc, struct line_source *src)
{
    char chunk[512];
    ssize_t n = read(src->fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    for (ssize_t i = 0; i < n && !proc->quit; i++) {
        char c = chunk[i];
        if (c == '\n') {
            if (src->discarding) {
                write_all(src->reply_fd, "error: command line too long\n", 29);
            } else {
                src->buf[src->len] = '\0';
                answer_line(proc, src, src->buf);
            }
            src->len = 0;
            src->discarding = false;
        } else if (src->len + 1 >= sizeof src->buf) {
            src->discarding = true;
        } else if (!src->discarding) {
            src->buf[src->len++] = c;
        }
    }
    return true;
}

static void accept_client(struct mock_process *proc)
{
    int fd = accept4(proc->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    for (int i = 0; i < KMOCK_MAX_CLIENTS; i++) {
        if (proc->clients[i].fd < 0) {
            proc->clients[i].fd = fd;
            proc->clients[i].reply_fd = fd;
            proc->clients[i].len = 0;
            proc->clients[i].discarding = false;
            return;
        }
    }
    write_all(fd, "error: too many control connections\n", 36);
    close(fd);
}

static void serve(struct mock_process *proc)
{
    while (!proc->quit) {
        struct pollfd fds[3 + KMOCK_MAX_CLIENTS];
        struct line_source *sources[3 + KMOCK_MAX_CLIENTS];
        nfds_t count = 0;
        fds[count] = (struct pollfd){.fd = proc->signal_fd, .events = POLLIN};
        sources[count++] = NULL;
        if (proc->listen_fd >= 0) {
            fds[count] = (struct pollfd){.fd = proc->listen_fd, .events = POLLIN};
            sources[count++] = NULL;
        }
        if (proc->stdin_source.fd >= 0) {
            fds[count] = (struct pollfd){.fd = proc->stdin_source.fd, .events = POLLIN};
            sources[count++] = &proc->stdin_source;
        }
        for (int i = 0; i < KMOCK_MAX_CLIENTS; i++) {
            if (proc->clients[i].fd >= 0) {
                fds[count] = (struct pollfd){.fd = proc->clients[i].fd, .events = POLLIN};
                sources[count++] = &proc->clients[i];
            }
        }
        if (poll(fds, count, -1) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "kafka-mock: poll: %s\n", strerror(errno));
            return;
        }
        for (nfds_t i = 0; i < count && !proc->quit; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (fds[i].fd == proc->signal_fd) {
                fprintf(stderr, "kafka-mock: signal received, exiting\n");
                proc->quit = true;
            } else if (fds[i].fd == proc->listen_fd && !sources[i]) {
                accept_client(proc);
            } else if (!source_read(proc, sources[i])) {
                bool was_stdin = sources[i] == &proc->stdin_source;
                source_close(sources[i]);
                if (was_stdin && proc->stdin_ends_process)
                    proc->quit = true;
            }
        }
    }
}

static int block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_CLOEXEC);
}

static void mock_process_destroy(struct mock_process *proc)
{
    for (int i = 0; i < KMOCK_MAX_CLIENTS; i++)
        source_close(&proc->clients[i]);
    if (proc->listen_fd >= 0)
        close(proc->listen_fd);
    if (proc->cluster)
        rd_kafka_mock_cluster_destroy(proc->cluster);
    if (proc->rk)
        rd_kafka_destroy(proc->rk);
    if (proc->signal_fd >= 0)
        close(proc->signal_fd);
}

static int mock_process_start(struct mock_process *proc, const struct options *opts,
                              char *errstr, size_t size)
{
    char rk_err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The handle only hosts the cluster and never connects anywhere itself: its notice
     * about having no bootstrap.servers is noise. */
    if (rd_kafka_conf_set(conf, "client.id", "kafka-mock", rk_err, sizeof rk_err) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "4", rk_err, sizeof rk_err) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, size, "%s", rk_err);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    proc->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rk_err, sizeof rk_err);
    if (!proc->rk) {
        snprintf(errstr, size, "creating the host handle: %s", rk_err);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    proc->cluster = rd_kafka_mock_cluster_new(proc->rk, opts->brokers);
    if (!proc->cluster) {
        snprintf(errstr, size, "creating a mock cluster of %d brokers failed", opts->brokers);
        return -1;
    }
    proc->broker_count = opts->brokers;
    int replication = opts->brokers < 3 ? opts->brokers : 3;
    for (int i = 0; i < opts->topic_count; i++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(
            proc->cluster, opts->topics[i].name, opts->topics[i].partitions, replication);
        if (err) {
            snprintf(errstr, size, "creating topic '%s': %s", opts->topics[i].name,
                     rd_kafka_err2str(err));
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    char errstr[512];
    struct options opts;
    int parsed = parse_options(argc, argv, &opts, errstr, sizeof errstr);
    if (parsed == 1) {
        usage(stdout);
        return 0;
    }
    if (parsed < 0) {
        fprintf(stderr, "kafka-mock: %s\n", errstr);
        usage(stderr);
        return 2;
    }

    struct mock_process proc = {.signal_fd = -1, .listen_fd = -1};
    proc.stdin_source = (struct line_source){.fd = STDIN_FILENO, .reply_fd = STDOUT_FILENO};
    for (int i = 0; i < KMOCK_MAX_CLIENTS; i++)
        proc.clients[i].fd = -1;
    proc.stdin_ends_process = opts.control_port < 0;

    /* Signals are blocked before librdkafka starts its threads, which inherit the mask,
     * so SIGTERM is only ever seen through the signalfd. */
    proc.signal_fd = block_signals();
    if (proc.signal_fd < 0) {
        fprintf(stderr, "kafka-mock: signalfd: %s\n", strerror(errno));
        return 1;
    }
    int control_port = 0;
    if (opts.control_port >= 0) {
        proc.listen_fd = open_listener(opts.control_port, &control_port, errstr, sizeof errstr);
        if (proc.listen_fd < 0) {
            fprintf(stderr, "kafka-mock: %s\n", errstr);
            mock_process_destroy(&proc);
            return 1;
        }
    }
    if (mock_process_start(&proc, &opts, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "kafka-mock: %s\n", errstr);
        mock_process_destroy(&proc);
        return 1;
    }
    if (proc.listen_fd >= 0)
        printf("CONTROL=127.0.0.1:%d\n", control_port);
    printf("BOOTSTRAP=%s\n", rd_kafka_mock_cluster_bootstraps(proc.cluster));
    fflush(stdout);

    serve(&proc);
    mock_process_destroy(&proc);
    return 0;
}
