/*
 * What bench/lib's C load clients share: a growable byte buffer and commands
 * read from stdin one line at a time. Included by each (one cc command per
 * program, no library to build).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct buf {
  char *p;
  size_t len, cap;
};

static inline void die(const char *what) {
  perror(what);
  exit(1);
}

static inline void grow(struct buf *b, size_t need) {
  if (b->cap >= need) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap *= 2;
  if (!(b->p = realloc(b->p, cap))) die("realloc");
  b->cap = cap;
}

static inline void append(struct buf *b, const void *p, size_t n) {
  grow(b, b->len + n);
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

static inline void release(struct buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/*
 * Reads what stdin has (one read) and calls on_command for each whole line
 * in it, without its newline. Exits at the end of stdin.
 */
static inline void read_commands(struct buf *pending, void (*on_command)(char *)) {
  char tmp[1 << 16];
  ssize_t n = read(0, tmp, sizeof tmp);
  if (n == 0) exit(0);
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN) return;
    die("read stdin");
  }
  append(pending, tmp, (size_t)n);
  char *nl;
  while ((nl = memchr(pending->p, '\n', pending->len))) {
    *nl = 0;
    size_t taken = (size_t)(nl + 1 - pending->p);
    char *cmd = strdup(pending->p);
    memmove(pending->p, nl + 1, pending->len - taken);
    pending->len -= taken;
    on_command(cmd);
    free(cmd);
  }
}
