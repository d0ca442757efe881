/*
 * ws-load: the WebSocket load client of bench/realtime, in C.
 *
 * Why not Node: the bench's sockets share the machine's two cores with the
 * system it measures. A Node `ws` client spends 20-30 us of CPU on each frame
 * it receives (stream machinery, a Buffer, an event), so reading one
 * broadcast to 10,000 sockets cost the clients 200-300 ms of CPU, more than
 * the server's fan-out, and the broadcast figure measured the clients. This
 * client costs one read() and a few compares per frame.
 *
 * It holds many client sockets in one epoll loop and speaks RFC 6455 as a
 * client: upgrade request, unmasked server frames of any length (fragmented
 * messages reassembled), pings answered with masked pongs, close frames
 * echoed. Commands come on stdin, one per line; replies go to stdout:
 *
 *   connect <local address|-> <wait welcome 0|1> <url> [<url> ...]
 *       opens ws://<IPv4>:<port><path> sockets, at most 100 connecting at
 *       once, each bound to the local address (each has its own ~28k
 *       ephemeral ports). With wait welcome, a socket counts as connected
 *       once its first message (Herald's welcome) arrived; that message is
 *       not recorded.
 *       → "connected <n> <failed>"
 *   report
 *       → "report <open sockets> <messages since the last report>", then for
 *         each message containing "bench_" since the last report one line
 *         "<receive time>\t<bench_kind>\t<bench_id>\t<bench_t0>\t<created_at>\t<sent_at>"
 *         (the time in ms since the epoch, CLOCK_REALTIME; each value as the
 *         JSON has it, "" when absent), then "end"
 *   pending → "pending <records waiting for the next report>" (cheap: the
 *       bench polls it while a broadcast is arriving, then asks for the report)
 *   close   closes every socket (and forgets them) → "closed"
 *   reconnect <base ms> <cap ms>
 *       from now on a socket that closes or fails to connect is opened again
 *       like a real client would: after a random delay in [0, min(cap,
 *       base·2^failures)] (full jitter; failures count the attempts since its
 *       last success), waiting for its welcome again when the connect did.
 *       Sockets opened by later connect commands are covered (a connect's
 *       "failed" ones are then retried too); "reconnect 0 0" turns it off.
 *       Reconnects share the 100 connecting lanes' limit with a connect.
 *       → "reconnect <on|off>"
 *   retrying → "retrying <sockets waiting or connecting again> <reconnects
 *       that succeeded> <attempts made>" (totals since the start)
 *   dropped → "dropped <sockets opened by connect commands that are closed now>"
 *   storm <wait welcome 0|1> <lanes> <timeout ms>
 *       opens every dropped socket again at the same moment (at most <lanes>
 *       connecting at a time; 0: no limit), from its own local address and
 *       with &since=<cursor> when its last welcome carried a cursor, as a
 *       client does once its server is back. A socket not open (welcomed)
 *       within the timeout counts as failed.
 *       → "storm <n> <failed>", then for each socket opened again the time
 *         it was open (welcomed), ms since the epoch, one a line, then "end"
 *   exit    (or end of stdin) exits
 *
 * The receive time is taken once per read(), before its frames are parsed.
 * Records are a few numbers, not the frames: parsing 10,000 frames of JSON
 * in the bench's own process took as much CPU as the fan-out it measured.
 *
 * Usage: ws-load [nap µs] (default 0). With a nap, a client that just read
 * frames sleeps that long before it looks again, so frames that keep coming
 * are read in batches (a receive time is then at most the nap late).
 * Build: cc -O2 -o ws-load ws-load.c (bench/lib/build-c.ts does it).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_FD 65536
#define LANES 100
#define MAX_HANDSHAKE 16384

enum state { FREE, CONNECTING, HANDSHAKE, WELCOME, OPEN };

struct target {
  struct sockaddr_in addr;
  char *request; /* the whole upgrade request */
  size_t request_len;
};

struct conn {
  enum state state;
  /* still counted in the running connect command */
  int pending;
  const struct target *target; /* while connecting */
  struct buf in;               /* bytes of a frame (or handshake) not yet complete */
  struct buf msg;              /* a fragmented message being reassembled */
  struct home *own;            /* with reconnect on: where to connect again */
  int attempts;                /* failed reconnect attempts since the last success */
  int retrying;                /* a reconnect in flight (holds a lane) */
  long slot;                   /* 1 + its index in slots (0: none) */
};

static struct conn conns[MAX_FD];
static int ep;
static unsigned long open_count, messages, pending_records;
static struct buf records, line, out;

/* the running connect command */
static struct target *targets;
static size_t target_count, next_target;
static int inflight, wait_welcome, connect_running;
static unsigned long connected, failed;
static struct sockaddr_in local;
static int have_local;

static void flush_out(void) {
  size_t off = 0;
  while (off < out.len) {
    ssize_t n = write(1, out.p + off, out.len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("write stdout");
    }
    off += (size_t)n;
  }
  out.len = 0;
}

static void say(const char *fmt, unsigned long a, unsigned long b) {
  char tmp[128];
  int n = snprintf(tmp, sizeof tmp, fmt, a, b);
  append(&out, tmp, (size_t)n);
  flush_out();
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void start_next(void);
static void drop(int fd);

/*
 * Reconnects (the "reconnect" command): a socket that closes is opened again
 * after a jittered, growing delay, as a real client does after a server
 * restart. The waiting ones sit in a min-heap by due time; the main loop
 * sleeps until the first is due and starts as many as lanes allow.
 */
struct home {
  struct target t;
  struct sockaddr_in local;
  int have_local;
};

struct retry {
  double due;
  struct home *home;
  int attempts;
};

static long reconnect_base, reconnect_cap; /* ms; cap 0 = off */
static struct retry *heap;
static size_t heap_len, heap_cap;
static int retry_inflight, closing_all;
static unsigned long reconnected, retry_attempts;

static struct home *new_home(const struct target *tg) {
  struct home *h = malloc(sizeof *h);
  if (!h) die("malloc");
  h->t = *tg;
  if (!(h->t.request = malloc(tg->request_len))) die("malloc");
  memcpy(h->t.request, tg->request, tg->request_len);
  h->local = local;
  h->have_local = have_local;
  return h;
}

static void free_home(struct home *h) {
  free(h->t.request);
  free(h);
}

static void heap_push(struct retry r) {
  if (heap_len == heap_cap && !(heap = realloc(heap, (heap_cap = heap_cap ? heap_cap * 2 : 1024) * sizeof *heap))) die("realloc");
  size_t i = heap_len++;
  while (i && heap[(i - 1) / 2].due > r.due) {
    heap[i] = heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  heap[i] = r;
}

static struct retry heap_pop(void) {
  struct retry top = heap[0], last = heap[--heap_len];
  size_t i = 0;
  for (;;) {
    size_t k = 2 * i + 1;
    if (k >= heap_len) break;
    if (k + 1 < heap_len && heap[k + 1].due < heap[k].due) k++;
    if (heap[k].due >= last.due) break;
    heap[i] = heap[k];
    i = k;
  }
  if (heap_len) heap[i] = last;
  return top;
}

/* Called as a socket is dropped: with reconnect on, it is due again after a full-jitter backoff. */
static void retry_later(struct conn *c) {
  struct home *h = c->own;
  if (!h) return;
  c->own = NULL;
  if (!reconnect_cap || closing_all) return free_home(h);
  /* an open socket that closed starts over; a failed attempt (refused, or closed before its welcome) backs off further */
  int attempts = c->state == OPEN ? 0 : c->attempts + 1;
  long ceiling = reconnect_base << (attempts < 16 ? attempts : 16);
  if (ceiling > reconnect_cap || ceiling <= 0) ceiling = reconnect_cap;
  heap_push((struct retry){now_ms() + (double)(random() % (ceiling + 1)), h, attempts});
}

static void retry_settle(int fd, int ok) {
  struct conn *c = &conns[fd];
  c->retrying = 0;
  retry_inflight--;
  if (ok) {
    c->attempts = 0;
    reconnected++;
  }
}

static void start_retries(void) {
  double now = now_ms();
  while (heap_len && heap[0].due <= now && inflight + retry_inflight < LANES) {
    struct retry r = heap_pop();
    retry_attempts++;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0 || fd >= MAX_FD) {
      if (fd >= 0) close(fd);
      r.due = now + (double)reconnect_cap;
      heap_push(r);
      break;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (r.home->have_local) {
      setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      bind(fd, (struct sockaddr *)&r.home->local, sizeof r.home->local);
    }
    struct conn *c = &conns[fd];
    memset(c, 0, sizeof *c);
    c->state = CONNECTING;
    c->target = &r.home->t;
    c->own = r.home;
    c->attempts = r.attempts;
    c->retrying = 1;
    retry_inflight++;
    struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    if (connect(fd, (struct sockaddr *)&r.home->t.addr, sizeof r.home->t.addr) < 0 && errno != EINPROGRESS) drop(fd);
  }
}

/* How long epoll may sleep before a reconnect is due (-1: none waiting, or no lane free). */
static int retry_timeout_ms(void) {
  if (!heap_len || inflight + retry_inflight >= LANES) return -1;
  double wait = heap[0].due - now_ms();
  return wait <= 0 ? 0 : (int)wait + 1;
}

static void clear_retries(void) {
  while (heap_len) free_home(heap_pop().home);
}

static void cmd_reconnect(char *args) {
  long base = 0, cap = 0;
  sscanf(args, "%ld %ld", &base, &cap);
  reconnect_base = base > 0 ? base : 1;
  reconnect_cap = cap > 0 ? cap : 0;
  if (!reconnect_cap) clear_retries();
  srandom((unsigned)(getpid() ^ (long)now_ms()));
  say(reconnect_cap ? "reconnect on\n" : "reconnect off\n", 0UL, 0UL);
}

static void cmd_retrying(void) {
  char tmp[128];
  int n = snprintf(tmp, sizeof tmp, "retrying %lu %lu %lu\n", (unsigned long)heap_len + (unsigned long)retry_inflight, reconnected, retry_attempts);
  append(&out, tmp, (size_t)n);
  flush_out();
}

/*
 * Storms (the "storm" command): every socket a connect command opened is
 * remembered, so once its server is back the bench can open all the dropped
 * ones again at the same moment and time each one's welcome.
 */
struct slot {
  struct target t;      /* a copy of the connect's target */
  struct target again;  /* the storm's request: t's with &since=<cursor> */
  struct sockaddr_in local;
  int have_local;
  int fd;               /* -1 while closed */
  char cursor[24];      /* the last welcome's cursor (digits), "" when none */
  double opened_at;     /* when the running storm had it open (welcomed) again; 0: not yet */
};

static struct slot *slots;
static size_t slot_count, slot_cap;
static long *storm_queue;
static size_t storm_len, storm_next;
static int storming, storm_lanes;
static double storm_deadline;

/* Remembers a socket a connect command opens; returns its slot (1 + index). */
static long remember(const struct target *tg, int fd) {
  if (slot_count == slot_cap && !(slots = realloc(slots, (slot_cap = slot_cap ? slot_cap * 2 : 1024) * sizeof *slots))) die("realloc");
  struct slot *sl = &slots[slot_count];
  memset(sl, 0, sizeof *sl);
  sl->t = *tg;
  if (!(sl->t.request = malloc(tg->request_len))) die("malloc");
  memcpy(sl->t.request, tg->request, tg->request_len);
  sl->local = local;
  sl->have_local = have_local;
  sl->fd = fd;
  return (long)++slot_count;
}

static void forget_slots(void) {
  for (size_t i = 0; i < slot_count; i++) {
    free(slots[i].t.request);
    free(slots[i].again.request);
  }
  slot_count = 0;
}

/* Keeps the cursor of a welcome (digits only) for the socket's next storm. */
static void keep_cursor(struct conn *c, const char *p, size_t len);

/* A socket leaves the running connect command, connected or not. */
static void retry_settle(int fd, int ok);

static void settle(int fd, int ok) {
  struct conn *c = &conns[fd];
  if (c->retrying) return retry_settle(fd, ok);
  if (!c->pending) return;
  c->pending = 0;
  inflight--;
  if (ok) connected++;
  else failed++;
  if (ok && storming && c->slot) slots[c->slot - 1].opened_at = now_ms();
  start_next();
}

static void drop(int fd) {
  struct conn *c = &conns[fd];
  if (c->state == FREE) return;
  settle(fd, 0);
  if (c->state == OPEN) open_count--;
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
  release(&c->in);
  release(&c->msg);
  retry_later(c);
  if (c->slot && slots[c->slot - 1].fd == fd) slots[c->slot - 1].fd = -1;
  c->state = FREE;
}

/* A control frame from the client: masked, payload of at most 125 bytes. */
static void send_control(int fd, int opcode, const unsigned char *payload, size_t len) {
  unsigned char frame[2 + 4 + 125];
  static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (len > 125) len = 125;
  frame[0] = (unsigned char)(0x80 | opcode);
  frame[1] = (unsigned char)(0x80 | len);
  memcpy(frame + 2, mask, 4);
  for (size_t i = 0; i < len; i++) frame[6 + i] = payload[i] ^ mask[i & 3];
  /* a few bytes on a socket that never sends anything else: the send buffer has room */
  if (write(fd, frame, 6 + len) < 0 && errno != EAGAIN) drop(fd);
}

/* What a record keeps of a message: the bench's marks and Herald's timestamps (bench/realtime.ts reads them). */
static const char *const FIELDS[] = {"\"bench_kind\":", "\"bench_id\":", "\"bench_t0\":", "\"created_at\":", "\"sent_at\":"};

/* The value after `key` in compact JSON (JSON.stringify's): a string's contents or a number as written; "" when absent. */
static const char *field(const char *p, size_t len, const char *key, size_t *vlen) {
  size_t klen = strlen(key);
  const char *k = memmem(p, len, key, klen), *end = p + len;
  *vlen = 0;
  if (!k) return "";
  const char *v = k + klen, *e;
  if (v < end && *v == '"') {
    v++;
    e = memchr(v, '"', (size_t)(end - v));
  } else
    for (e = v; e < end && *e != ',' && *e != '}' && *e != ']'; e++) continue;
  if (!e) return "";
  *vlen = (size_t)(e - v);
  return v;
}

static void on_message(int fd, const char *p, size_t len, double t) {
  struct conn *c = &conns[fd];
  if (c->state == WELCOME) {
    if (c->slot) keep_cursor(c, p, len);
    c->state = OPEN;
    open_count++;
    settle(fd, 1);
    return;
  }
  messages++;
  if (!memmem(p, len, "\"bench_", 7)) return;
  char stamp[32];
  int n = snprintf(stamp, sizeof stamp, "%.3f", t);
  append(&records, stamp, (size_t)n);
  for (size_t i = 0; i < sizeof FIELDS / sizeof *FIELDS; i++) {
    size_t vlen;
    const char *v = field(p, len, FIELDS[i], &vlen);
    append(&records, "\t", 1);
    append(&records, v, vlen);
  }
  append(&records, "\n", 1);
  pending_records++;
}

/* Parses whole frames from p; returns the bytes consumed, or -1 when the socket was dropped. */
static long parse_frames(int fd, unsigned char *p, size_t avail, double t) {
  struct conn *c = &conns[fd];
  size_t used = 0;
  while (avail - used >= 2) {
    unsigned char *f = p + used;
    size_t left = avail - used;
    int fin = f[0] & 0x80, opcode = f[0] & 0x0f, masked = f[1] & 0x80;
    uint64_t len = f[1] & 0x7f;
    size_t head = 2;
    if (len == 126) {
      if (left < 4) break;
      len = ((uint64_t)f[2] << 8) | f[3];
      head = 4;
    } else if (len == 127) {
      if (left < 10) break;
      len = 0;
      for (int i = 0; i < 8; i++) len = (len << 8) | f[2 + i];
      head = 10;
    }
    if (masked) head += 4;
    if (left < head || left - head < len) break;
    unsigned char *payload = f + head;
    if (masked) /* servers do not mask; unmask anyway */
      for (uint64_t i = 0; i < len; i++) payload[i] ^= f[head - 4 + (i & 3)];
    used += head + (size_t)len;
    switch (opcode) {
      case 0x8: /* close: echo its code, then close */
        send_control(fd, 0x8, payload, len >= 2 ? 2 : 0);
        drop(fd);
        return -1;
      case 0x9:
        send_control(fd, 0xA, payload, (size_t)len);
        break;
      case 0xA:
        break;
      case 0x0:
        append(&c->msg, payload, (size_t)len);
        if (fin) {
          on_message(fd, c->msg.p, c->msg.len, t);
          c->msg.len = 0;
        }
        break;
      default: /* text or binary */
        if (fin) on_message(fd, (const char *)payload, (size_t)len, t);
        else {
          c->msg.len = 0;
          append(&c->msg, payload, (size_t)len);
        }
    }
    if (c->state == FREE) return -1;
  }
  return (long)used;
}

/* The server's answer to the upgrade: 101 opens the socket, anything else fails it. */
static long parse_handshake(int fd) {
  struct conn *c = &conns[fd];
  char *end = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
  if (!end) {
    if (c->in.len > MAX_HANDSHAKE) drop(fd);
    return c->in.len > MAX_HANDSHAKE ? -1 : 0;
  }
  if (c->in.len < 12 || memcmp(c->in.p, "HTTP/1.1 101", 12) != 0) {
    drop(fd);
    return -1;
  }
  if (wait_welcome) c->state = WELCOME;
  else {
    c->state = OPEN;
    open_count++;
    settle(fd, 1);
  }
  return (long)(end + 4 - c->in.p);
}

static void on_readable(int fd) {
  static unsigned char rbuf[1 << 18];
  struct conn *c = &conns[fd];
  ssize_t n = read(fd, rbuf, sizeof rbuf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return drop(fd);
  double t = now_ms();
  unsigned char *p = rbuf;
  size_t avail = (size_t)n;
  if (c->in.len || c->state == HANDSHAKE) {
    append(&c->in, rbuf, (size_t)n);
    p = (unsigned char *)c->in.p;
    avail = c->in.len;
  }
  size_t used = 0;
  if (c->state == HANDSHAKE) {
    long h = parse_handshake(fd);
    if (h <= 0) return; /* dropped, or the answer is not complete yet */
    used = (size_t)h;
  }
  long f = parse_frames(fd, p + used, avail - used, t);
  if (f < 0) return;
  used += (size_t)f;
  if (p == (unsigned char *)c->in.p) {
    memmove(c->in.p, c->in.p + used, c->in.len - used);
    c->in.len -= used;
  } else if (used < avail) append(&c->in, p + used, avail - used);
}

static void on_connected(int fd) {
  struct conn *c = &conns[fd];
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) return drop(fd);
  const struct target *tg = c->target;
  if (write(fd, tg->request, tg->request_len) != (ssize_t)tg->request_len) return drop(fd);
  c->state = HANDSHAKE;
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

static void start_storm(void);

/* A non-blocking TCP socket with Nagle off, bound to `from` (a source address, port left to connect) when given; -1 when none can be had. */
static int open_socket(const struct sockaddr_in *from) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (fd >= MAX_FD) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (from) {
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)from, sizeof *from) < 0) {
      close(fd);
      return -1;
    }
  }
  return fd;
}

static void start_next(void) {
  if (storming) return start_storm();
  while (connect_running && inflight < LANES && next_target < target_count) {
    struct target *tg = &targets[next_target++];
    int fd = open_socket(have_local ? &local : NULL);
    if (fd < 0) {
      failed++;
      continue;
    }
    struct conn *c = &conns[fd];
    memset(c, 0, sizeof *c);
    c->state = CONNECTING;
    c->pending = 1;
    c->target = tg;
    c->slot = remember(tg, fd);
    if (reconnect_cap) c->own = new_home(tg);
    inflight++;
    struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    if (connect(fd, (struct sockaddr *)&tg->addr, sizeof tg->addr) < 0 && errno != EINPROGRESS) drop(fd);
  }
  if (connect_running && inflight == 0 && next_target == target_count) {
    connect_running = 0;
    for (size_t i = 0; i < target_count; i++) free(targets[i].request);
    free(targets);
    targets = NULL;
    say("connected %lu %lu\n", connected, failed);
  }
}

/* ws://a.b.c.d:port/path?query → address and upgrade request; 0 when the url is not of that form. */
static int parse_url(const char *url, struct target *tg) {
  if (strncmp(url, "ws://", 5) != 0) return 0;
  const char *host = url + 5, *colon = strchr(host, ':'), *path = strchr(host, '/');
  if (!colon || (path && colon > path)) return 0;
  char ip[64];
  size_t hl = (size_t)(colon - host);
  if (hl >= sizeof ip) return 0;
  memcpy(ip, host, hl);
  ip[hl] = 0;
  if (strcmp(ip, "localhost") == 0) strcpy(ip, "127.0.0.1");
  memset(&tg->addr, 0, sizeof tg->addr);
  tg->addr.sin_family = AF_INET;
  tg->addr.sin_port = htons((uint16_t)atoi(colon + 1));
  if (inet_pton(AF_INET, ip, &tg->addr.sin_addr) != 1) return 0;
  const char *hostport_end = path ? path : host + strlen(host);
  int n = asprintf(&tg->request,
                   "GET %s HTTP/1.1\r\nHost: %.*s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   path ? path : "/", (int)(hostport_end - host), host);
  if (n < 0) die("asprintf");
  tg->request_len = (size_t)n;
  return 1;
}

static void cmd_connect(char *args) {
  char *save = NULL;
  char *addr = strtok_r(args, " ", &save);
  char *welcome = strtok_r(NULL, " ", &save);
  if (!addr || !welcome) {
    say("connected %lu %lu\n", 0UL, 0UL);
    return;
  }
  have_local = strcmp(addr, "-") != 0;
  if (have_local) {
    memset(&local, 0, sizeof local);
    local.sin_family = AF_INET;
    if (inet_pton(AF_INET, addr, &local.sin_addr) != 1) have_local = 0;
  }
  wait_welcome = atoi(welcome);
  size_t cap = 1024;
  targets = malloc(cap * sizeof *targets);
  target_count = next_target = 0;
  connected = failed = 0;
  for (char *url; (url = strtok_r(NULL, " ", &save));) {
    if (target_count == cap) targets = realloc(targets, (cap *= 2) * sizeof *targets);
    if (parse_url(url, &targets[target_count])) target_count++;
    else failed++;
  }
  connect_running = 1;
  start_next();
}

/* The welcome's "cursor" value, when it is a number (a string of digits as Herald sends it). */
static void keep_cursor(struct conn *c, const char *p, size_t len) {
  size_t vlen;
  const char *v = field(p, len, "\"cursor\":", &vlen);
  struct slot *sl = &slots[c->slot - 1];
  if (!vlen || vlen >= sizeof sl->cursor) return;
  for (size_t i = 0; i < vlen; i++)
    if (v[i] < '0' || v[i] > '9') return;
  memcpy(sl->cursor, v, vlen);
  sl->cursor[vlen] = 0;
}

/* The slot's request with &since=<cursor> (or ?since=) after its path. */
static void build_again(struct slot *sl) {
  free(sl->again.request);
  sl->again = sl->t;
  const char *req = sl->t.request, *end = strstr(req, " HTTP/1.1\r\n");
  if (!sl->cursor[0] || !end) {
    if (!(sl->again.request = strdup(req))) die("strdup");
    return;
  }
  int path_len = (int)(end - req);
  const char *sep = memchr(req, '?', (size_t)path_len) ? "&" : "?";
  int n = asprintf(&sl->again.request, "%.*s%ssince=%s%s", path_len, req, sep, sl->cursor, end);
  if (n < 0) die("asprintf");
  sl->again.request_len = (size_t)n;
}

/* Opens the storm's next sockets, up to its lanes; answers once every one has settled. */
static void start_storm(void) {
  while (storming && (storm_lanes == 0 || inflight < storm_lanes) && storm_next < storm_len) {
    long i = storm_queue[storm_next++];
    struct slot *sl = &slots[i];
    int fd = open_socket(sl->have_local ? &sl->local : NULL);
    if (fd < 0) {
      failed++;
      continue;
    }
    build_again(sl);
    struct conn *c = &conns[fd];
    memset(c, 0, sizeof *c);
    c->state = CONNECTING;
    c->pending = 1;
    c->target = &sl->again;
    c->slot = i + 1;
    sl->fd = fd;
    inflight++;
    struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    if (connect(fd, (struct sockaddr *)&sl->t.addr, sizeof sl->t.addr) < 0 && errno != EINPROGRESS) drop(fd);
  }
  if (storming && inflight == 0 && storm_next == storm_len) {
    storming = 0;
    char tmp[64];
    int n = snprintf(tmp, sizeof tmp, "storm %lu %lu\n", connected, failed);
    append(&out, tmp, (size_t)n);
    for (size_t q = 0; q < storm_len; q++) {
      double t = slots[storm_queue[q]].opened_at;
      if (!t) continue;
      n = snprintf(tmp, sizeof tmp, "%.3f\n", t);
      append(&out, tmp, (size_t)n);
    }
    append(&out, "end\n", 4);
    flush_out();
  }
}

/* Past the storm's timeout, the sockets not open yet count as failed. */
static void storm_timeout(void) {
  if (!storming || now_ms() < storm_deadline) return;
  failed += storm_len - storm_next;
  storm_next = storm_len;
  for (int fd = 0; fd < MAX_FD; fd++)
    if (conns[fd].state != FREE && conns[fd].pending && conns[fd].slot) drop(fd);
  start_storm();
}

static void cmd_dropped(void) {
  unsigned long n = 0;
  for (size_t i = 0; i < slot_count; i++)
    if (slots[i].fd < 0) n++;
  say("dropped %lu\n", n, 0UL);
}

static void cmd_storm(char *args) {
  int welcome = 1, how_many = 0;
  long timeout = 120000;
  sscanf(args, "%d %d %ld", &welcome, &how_many, &timeout);
  if (storming || connect_running) {
    say("storm 0 %lu\nend\n", 0UL, 0UL);
    return;
  }
  if (!(storm_queue = realloc(storm_queue, (slot_count + 1) * sizeof *storm_queue))) die("realloc");
  storm_len = storm_next = 0;
  for (size_t i = 0; i < slot_count; i++) {
    if (slots[i].fd >= 0) continue;
    slots[i].opened_at = 0;
    storm_queue[storm_len++] = (long)i;
  }
  wait_welcome = welcome;
  storm_lanes = how_many;
  storm_deadline = now_ms() + (double)timeout;
  connected = failed = 0;
  storming = 1;
  start_storm();
}

static void cmd_report(void) {
  char head[96];
  int n = snprintf(head, sizeof head, "report %lu %lu\n", open_count, messages);
  append(&out, head, (size_t)n);
  append(&out, records.p ? records.p : "", records.len);
  append(&out, "end\n", 4);
  records.len = 0;
  messages = 0;
  pending_records = 0;
  flush_out();
  if (out.cap > (1 << 22)) release(&out);
}

static void cmd_close(void) {
  closing_all = 1;
  clear_retries();
  for (int fd = 0; fd < MAX_FD; fd++)
    if (conns[fd].state != FREE) drop(fd);
  closing_all = 0;
  forget_slots();
  say("closed\n", 0UL, 0UL);
}

static void on_command(char *cmd) {
  if (strncmp(cmd, "connect ", 8) == 0) cmd_connect(cmd + 8);
  else if (strcmp(cmd, "report") == 0) cmd_report();
  else if (strcmp(cmd, "pending") == 0) say("pending %lu\n", pending_records, 0UL);
  else if (strcmp(cmd, "close") == 0) cmd_close();
  else if (strncmp(cmd, "reconnect ", 10) == 0) cmd_reconnect(cmd + 10);
  else if (strcmp(cmd, "retrying") == 0) cmd_retrying();
  else if (strcmp(cmd, "dropped") == 0) cmd_dropped();
  else if (strncmp(cmd, "storm ", 6) == 0) cmd_storm(cmd + 6);
  else if (strcmp(cmd, "exit") == 0) exit(0);
  else fprintf(stderr, "ws-load: unknown command %.40s\n", cmd);
}

static void on_stdin(void) { read_commands(&line, on_command); }

int main(int argc, char **argv) {
  long nap_us = argc > 1 ? atol(argv[1]) : 0;
  ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = 0};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) < 0) die("epoll_ctl stdin");
  struct epoll_event events[1024];
  int busy = 0;
  for (;;) {
    /* While frames keep coming, read them in batches nap_us apart instead of sleeping in epoll_wait
       between frames: a sender must wake a sleeping reader, which the server paid for on every
       socket of a broadcast (loopback runs the receiver's side in the sender's system call). */
    if (busy && nap_us) usleep((useconds_t)nap_us);
    int timeout = busy && nap_us ? 0 : retry_timeout_ms();
    /* a storm looks at its deadline at least once a second */
    if (storming && (timeout < 0 || timeout > 1000)) timeout = 1000;
    int n = epoll_wait(ep, events, 1024, timeout);
    busy = n > 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == 0) on_stdin();
      else if (conns[fd].state == CONNECTING) on_connected(fd);
      else if (conns[fd].state != FREE) on_readable(fd);
    }
    start_retries();
    storm_timeout();
  }
}
