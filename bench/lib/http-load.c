/*
 * http-load: the fixed-rate HTTP load generator of bench/realtime, in C.
 *
 * Why not Node: the load generator shares the machine's two cores with the
 * system it measures. bench/lib/raw-http.ts, already a bare client, still
 * cost ~110-130 us of CPU per request at 1,000 requests/s (JSON, buffers,
 * timers, promises): a tenth of a core taken from the api and the worker
 * whose latency it measures. This one costs a write() and a read().
 *
 * Usage: http-load <IPv4 address> <port> <sockets>
 * Commands on stdin, one per line; replies on stdout:
 *   header <Name: value>   adds a request header of the next run (repeatable)
 *   body <template>        the request body of the next runs; "{i}" becomes the request's user
 *                          index (request number modulo users) and "{t0}" the
 *                          time the request was due and written, in ms since
 *                          the epoch (CLOCK_REALTIME, 3 decimals)
 *   run <path> <rate> <count> <users>
 *       opens <sockets> keep-alive connections, POSTs <count> requests at
 *       <rate> per second (each due at start + n/rate; one request in flight
 *       per connection, the rest wait in order, their t0 taken when due, so
 *       waiting counts as latency), waits for every answer, closes the
 *       connections → "done <sent> <answered 2xx> <answered otherwise> <lost>"
 *       (lost: in flight when the server closed the connection)
 *   exit   (or end of stdin)
 * Answers are read as HTTP/1.1 with Content-Length or chunked bodies.
 * Build: cc -O2 -o http-load http-load.c (bench/lib/build-c.ts does it).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

struct conn {
  int fd;
  int busy;        /* a request is in flight */
  struct buf in;   /* answer bytes not yet consumed */
  struct buf out;  /* request bytes not yet written */
};

static struct sockaddr_in target;
static int nconns;
static struct conn *conns;
static struct buf headers, body, line;
static char host[64];
static int ep;

/* the running command */
static long sent, answered, ok, failed, lost;
static struct buf *waiting; /* requests due but not yet written, a ring */
static size_t wait_head, wait_len, wait_cap;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One whole request for request number n of users, t0 stamped now. */
static void build(struct buf *req, const char *path, long n, long users) {
  char num[32], t0[32];
  struct buf b = {0};
  snprintf(num, sizeof num, "%ld", n % users);
  snprintf(t0, sizeof t0, "%.3f", now_ms());
  for (const char *p = body.p, *end = body.p + body.len; p < end;) {
    if (end - p >= 3 && memcmp(p, "{i}", 3) == 0) append(&b, num, strlen(num)), p += 3;
    else if (end - p >= 4 && memcmp(p, "{t0}", 4) == 0) append(&b, t0, strlen(t0)), p += 4;
    else append(&b, p++, 1);
  }
  char head[512];
  int hn = snprintf(head, sizeof head, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %zu\r\n", path, host, b.len);
  req->len = 0;
  append(req, head, (size_t)hn);
  append(req, headers.p ? headers.p : "", headers.len);
  append(req, "\r\n", 2);
  append(req, b.p, b.len);
  free(b.p);
}

static void watch(struct conn *c) {
  struct epoll_event ev = {.events = EPOLLIN | (c->out.len ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void flush_conn(struct conn *c) {
  while (c->out.len) {
    ssize_t n = write(c->fd, c->out.p, c->out.len);
    if (n < 0) {
      if (errno == EAGAIN) break;
      return; /* the read side sees the error and fails the request */
    }
    memmove(c->out.p, c->out.p + n, c->out.len - (size_t)n);
    c->out.len -= (size_t)n;
  }
  watch(c);
}

static void start(struct conn *c, struct buf *req) {
  c->busy = 1;
  append(&c->out, req->p, req->len);
  flush_conn(c);
}

static void open_conn(struct conn *c) {
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0) die("socket");
  if (connect(c->fd, (struct sockaddr *)&target, sizeof target) < 0) die("connect");
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(c->fd, F_SETFL, O_NONBLOCK);
  c->busy = 0;
  c->in.len = c->out.len = 0;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void close_conn(struct conn *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
}

/* The next waiting request goes out on c, or c falls idle. */
static void next(struct conn *c) {
  c->busy = 0;
  if (!wait_len) return;
  struct buf *req = &waiting[wait_head];
  wait_head = (wait_head + 1) % wait_cap;
  wait_len--;
  start(c, req);
}

/* Length of a whole answer at the start of b (headers and body), 0 when incomplete, -1 when unreadable. */
static long answer_length(const struct buf *b, int *status) {
  char *end = memmem(b->p, b->len, "\r\n\r\n", 4);
  if (!end) return 0;
  size_t head = (size_t)(end - b->p) + 4;
  if (b->len < 12 || memcmp(b->p, "HTTP/1.", 7) != 0) return -1;
  *status = atoi(b->p + 9);
  for (char *h = memchr(b->p, '\n', head); h && h < end; h = memchr(h + 1, '\n', (size_t)(end - h))) {
    if (strncasecmp(h + 1, "content-length:", 15) == 0) {
      size_t n = strtoul(h + 16, NULL, 10);
      return b->len >= head + n ? (long)(head + n) : 0;
    }
    if (strncasecmp(h + 1, "transfer-encoding:", 18) == 0) {
      size_t pos = head; /* chunked: <hex size>\r\n<data>\r\n ... 0\r\n\r\n */
      for (;;) {
        char *nl = memmem(b->p + pos, b->len - pos, "\r\n", 2);
        if (!nl) return 0;
        size_t size = strtoul(b->p + pos, NULL, 16);
        pos = (size_t)(nl - b->p) + 2 + size + 2;
        if (pos > b->len) return 0;
        if (size == 0) return (long)pos;
      }
    }
  }
  return (long)head; /* no body */
}

static void on_readable(struct conn *c) {
  char tmp[65536];
  ssize_t n = read(c->fd, tmp, sizeof tmp);
  if (n < 0 && errno == EAGAIN) return;
  if (n <= 0) { /* the server closed the connection: the request in flight failed */
    if (c->busy) lost++, answered++;
    close_conn(c);
    open_conn(c);
    next(c);
    return;
  }
  append(&c->in, tmp, (size_t)n);
  int status = 0;
  long len;
  while (c->in.len && (len = answer_length(&c->in, &status)) != 0) {
    if (len < 0) die("unreadable answer");
    memmove(c->in.p, c->in.p + len, c->in.len - (size_t)len);
    c->in.len -= (size_t)len;
    answered++;
    if (status >= 200 && status < 300) ok++;
    else failed++;
    next(c);
  }
}

static void run(const char *path, double rate, long count, long users) {
  sent = answered = ok = failed = lost = 0;
  wait_head = wait_len = 0;
  if (!waiting) {
    wait_cap = 1 << 16;
    waiting = calloc(wait_cap, sizeof *waiting);
  }
  for (int i = 0; i < nconns; i++) open_conn(&conns[i]);
  double t_start = mono_s();
  struct buf req = {0};
  struct epoll_event events[256];
  while (answered < count) {
    long due = (long)((mono_s() - t_start) * rate);
    if (due > count) due = count;
    for (; sent < due; sent++) {
      struct conn *idle = NULL;
      for (int i = 0; i < nconns && !idle; i++)
        if (!conns[i].busy) idle = &conns[i];
      if (idle) {
        build(&req, path, sent, users);
        start(idle, &req);
      } else {
        if (wait_len == wait_cap) die("more than 65536 requests waiting");
        build(&waiting[(wait_head + wait_len) % wait_cap], path, sent, users);
        wait_len++;
      }
    }
    int n = epoll_wait(ep, events, 256, sent < count ? 1 : 100);
    for (int i = 0; i < n; i++) {
      struct conn *c = events[i].data.ptr;
      if (events[i].events & EPOLLOUT) flush_conn(c);
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
    }
  }
  free(req.p);
  for (int i = 0; i < nconns; i++) close_conn(&conns[i]);
  headers.len = 0;
  printf("done %ld %ld %ld %ld\n", sent, ok, failed, lost);
  fflush(stdout);
}

static void on_command(char *cmd) {
  if (strncmp(cmd, "header ", 7) == 0) {
    append(&headers, cmd + 7, strlen(cmd + 7));
    append(&headers, "\r\n", 2);
  } else if (strncmp(cmd, "body ", 5) == 0) {
    body.len = 0;
    append(&body, cmd + 5, strlen(cmd + 5));
  } else if (strncmp(cmd, "run ", 4) == 0) {
    char path[1024];
    double rate;
    long count, users;
    if (sscanf(cmd + 4, "%1023s %lf %ld %ld", path, &rate, &count, &users) != 4 || users < 1) {
      printf("done 0 0 0\n");
      fflush(stdout);
      return;
    }
    run(path, rate, count, users);
  } else if (strcmp(cmd, "exit") == 0) exit(0);
  else fprintf(stderr, "http-load: unknown command %.40s\n", cmd);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: http-load <IPv4 address> <port> <sockets>\n");
    return 2;
  }
  memset(&target, 0, sizeof target);
  target.sin_family = AF_INET;
  target.sin_port = htons((unsigned short)atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &target.sin_addr) != 1) die("address");
  snprintf(host, sizeof host, "%s:%s", argv[1], argv[2]);
  nconns = atoi(argv[3]);
  conns = calloc((size_t)nconns, sizeof *conns);
  if ((ep = epoll_create1(0)) < 0) die("epoll_create1");
  for (;;) read_commands(&line, on_command);
}
