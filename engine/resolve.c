/* Name resolution on the engine's ring: --resolve overrides, /etc/hosts (read
 * once at engine creation), and c-ares for the rest, its sockets polled
 * through io_uring. Nothing here blocks the loop. */
#include <arpa/inet.h>
#include <ares.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/internal.h"

#define DNS_NEG_TTL_MS 5000u
#define DNS_MIN_TTL_MS 1000u
#define DNS_MAX_TTL_MS 300000u
/* Lookups in flight at once. Thousands started together (a crawl's first
 * second) overflow the UDP socket's receive buffer with answers (c-ares has
 * one socket per server; ~270 datagrams fit the default buffer) and each
 * lost one costs a 2 s retransmission; the rest wait their turn in order. */
#define MAX_LOOKUPS 100u

typedef struct name_entry {
  char *name;
  int port; /* -1: any (hosts file) */
  int naddrs;
  struct sockaddr_storage addrs[RF_MAX_ADDRS];
} name_entry;

typedef struct poll_state {
  uint32_t gen;
  unsigned want; /* POLLIN/POLLOUT c-ares asked for */
  bool armed;
} poll_state;

struct rf_resolver {
  rf_engine *e;
  ares_channel ch;
  bool have_ares;
  unsigned pending;          /* lookups c-ares works on */
  rf_origin *wait_head, *wait_tail; /* lookups waiting for one of them to end */
  name_entry *names; /* --resolve first, then /etc/hosts */
  size_t nnames, capnames;
  poll_state *fds;
  size_t nfds;
};

typedef struct query {
  rf_engine *e;
  rf_origin *o;
} query;

int rf_parse_addr(const char *s, uint16_t port, struct sockaddr_storage *ss) {
  char tmp[64];
  size_t n = strlen(s);
  if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
    s++;
    n -= 2;
  }
  if (n == 0 || n >= sizeof tmp)
    return -EINVAL;
  memcpy(tmp, s, n);
  tmp[n] = 0;
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, tmp, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return 0;
  }
  if (inet_pton(AF_INET6, tmp, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return 0;
  }
  return -EINVAL;
}

static name_entry *add_name(rf_resolver *r, const char *name, size_t len, int port) {
  for (size_t i = 0; i < r->nnames; i++)
    if (r->names[i].port == port && strlen(r->names[i].name) == len &&
        strncasecmp(r->names[i].name, name, len) == 0)
      return &r->names[i];
  if (r->nnames == r->capnames) {
    size_t cap = r->capnames ? r->capnames * 2 : 16;
    name_entry *n = realloc(r->names, cap * sizeof *n);
    if (!n)
      return NULL;
    r->names = n;
    r->capnames = cap;
  }
  name_entry *ne = &r->names[r->nnames];
  memset(ne, 0, sizeof *ne);
  ne->name = strndup(name, len);
  if (!ne->name)
    return NULL;
  for (char *c = ne->name; *c; c++)
    *c = (char)tolower((unsigned char)*c);
  ne->port = port;
  r->nnames++;
  return ne;
}

/* "host:port:addr[,addr...]" (curl's --resolve; a leading '+' is accepted). */
static int add_resolve(rf_resolver *r, const char *spec, char *err, size_t errlen) {
  const char *s = spec[0] == '+' ? spec + 1 : spec;
  const char *c1 = strchr(s, ':');
  const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  char *end = NULL;
  long port = c1 ? strtol(c1 + 1, &end, 10) : -1;
  if (!c1 || !c2 || c1 == s || end != c2 || port < 1 || port > 65535) {
    snprintf(err, errlen, "bad --resolve entry '%s' (want host:port:addr)", spec);
    return -EINVAL;
  }
  name_entry *ne = add_name(r, s, (size_t)(c1 - s), (int)port);
  if (!ne)
    return -ENOMEM;
  ne->naddrs = 0;
  const char *a = c2 + 1;
  while (*a) {
    const char *comma = strchr(a, ',');
    size_t n = comma ? (size_t)(comma - a) : strlen(a);
    char tmp[64];
    if (n == 0 || n >= sizeof tmp || ne->naddrs == RF_MAX_ADDRS ||
        (memcpy(tmp, a, n), tmp[n] = 0, rf_parse_addr(tmp, (uint16_t)port, &ne->addrs[ne->naddrs]) < 0)) {
      snprintf(err, errlen, "bad address in --resolve entry '%s'", spec);
      return -EINVAL;
    }
    ne->naddrs++;
    a += n + (comma ? 1 : 0);
  }
  if (ne->naddrs == 0) {
    snprintf(err, errlen, "no address in --resolve entry '%s'", spec);
    return -EINVAL;
  }
  return 0;
}

static void load_hosts(rf_resolver *r, const char *path) {
  FILE *f = fopen(path, "re");
  if (!f)
    return; /* no hosts file is not an error */
  char line[1024];
  while (fgets(line, sizeof line, f)) {
    char *hash = strchr(line, '#');
    if (hash)
      *hash = 0;
    char *save = NULL;
    char *addr = strtok_r(line, " \t\r\n", &save);
    if (!addr)
      continue;
    struct sockaddr_storage ss;
    if (rf_parse_addr(addr, 0, &ss) < 0)
      continue;
    char *name;
    while ((name = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
      name_entry *ne = add_name(r, name, strlen(name), -1);
      if (ne && ne->naddrs < RF_MAX_ADDRS)
        ne->addrs[ne->naddrs++] = ss;
    }
  }
  fclose(f);
}

static poll_state *fd_state(rf_resolver *r, int fd) {
  if (fd < 0)
    return NULL;
  if ((size_t)fd >= r->nfds) {
    size_t n = r->nfds ? r->nfds : 64;
    while (n <= (size_t)fd)
      n *= 2;
    poll_state *p = realloc(r->fds, n * sizeof *p);
    if (!p)
      return NULL;
    memset(p + r->nfds, 0, (n - r->nfds) * sizeof *p);
    r->fds = p;
    r->nfds = n;
  }
  return &r->fds[fd];
}

static void arm_poll(rf_resolver *r, int fd, poll_state *ps) {
  struct io_uring_sqe *sqe = rf_sqe(r->e);
  io_uring_prep_poll_add(sqe, fd, ps->want);
  io_uring_sqe_set_data64(sqe, rf_ud((uint32_t)fd, ps->gen, OP_DNS_POLL));
  ps->armed = true;
}

/* c-ares tells us which of its sockets to watch. Only queues SQEs. */
static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable) {
  rf_resolver *r = data;
  poll_state *ps = fd_state(r, fd);
  if (!ps)
    return;
  unsigned want = (readable ? POLLIN : 0) | (writable ? POLLOUT : 0);
  if (ps->armed && want != ps->want) {
    struct io_uring_sqe *sqe = rf_sqe(r->e);
    io_uring_prep_poll_remove(sqe, rf_ud((uint32_t)fd, ps->gen, OP_DNS_POLL));
    io_uring_sqe_set_data64(sqe, rf_ud(0, 0, OP_DNS_POLL_REMOVE));
    ps->armed = false;
  }
  if (want != ps->want || !ps->armed)
    ps->gen++; /* any CQE of an earlier poll is stale now */
  ps->want = want;
  if (want && !ps->armed)
    arm_poll(r, fd, ps);
}

int rf_resolver_new(rf_engine *e, rf_resolver **out, char *err, size_t errlen) {
  *out = NULL;
  rf_resolver *r = calloc(1, sizeof *r);
  if (!r)
    return -ENOMEM;
  r->e = e;
  for (size_t i = 0; i < e->cfg.n_resolve; i++) {
    int rc = add_resolve(r, e->cfg.resolve[i], err, errlen);
    if (rc) {
      rf_resolver_free(r);
      return rc;
    }
  }
  const char *hosts = e->cfg.hosts_file ? e->cfg.hosts_file : "/etc/hosts";
  if (*hosts)
    load_hosts(r, hosts);

  if (ares_library_init(ARES_LIB_INIT_ALL) == ARES_SUCCESS) {
    struct ares_options o;
    memset(&o, 0, sizeof o);
    o.sock_state_cb = sock_state_cb;
    o.sock_state_cb_data = r;
    o.lookups = (char *)"b"; /* DNS only: /etc/hosts was read above */
    o.timeout = (int)(e->cfg.dns_timeout_ms ? e->cfg.dns_timeout_ms : 2000);
    o.tries = 2;
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    int rc = ares_init_options(&r->ch, &o, mask);
    if (rc == ARES_SUCCESS) {
      r->have_ares = true;
      if (e->cfg.dns_servers && *e->cfg.dns_servers) {
        rc = ares_set_servers_ports_csv(r->ch, e->cfg.dns_servers);
        if (rc != ARES_SUCCESS) {
          snprintf(err, errlen, "bad DNS server list '%s': %s", e->cfg.dns_servers, ares_strerror(rc));
          rf_resolver_free(r);
          return -EINVAL;
        }
      }
    } else {
      ares_library_cleanup();
    }
  }
  *out = r;
  return 0;
}

void rf_resolver_free(rf_resolver *r) {
  if (!r)
    return;
  if (r->have_ares) {
    ares_destroy(r->ch); /* callbacks run with ARES_EDESTRUCTION */
    ares_library_cleanup();
  }
  for (size_t i = 0; i < r->nnames; i++)
    free(r->names[i].name);
  free(r->names);
  free(r->fds);
  free(r);
}

static const name_entry *lookup(rf_resolver *r, const char *host, uint16_t port) {
  const name_entry *any = NULL;
  for (size_t i = 0; i < r->nnames; i++) {
    const name_entry *ne = &r->names[i];
    if (strcasecmp(ne->name, host) != 0)
      continue;
    if (ne->port == port)
      return ne;
    if (ne->port == -1 && !any)
      any = ne;
  }
  return any;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port) {
  if (ss->ss_family == AF_INET)
    ((struct sockaddr_in *)ss)->sin_port = htons(port);
  else
    ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* RFC 8305 section 4: the families interleaved, IPv6 first, each family in
 * the order given; with -4 or -6 only that family. Happy Eyeballs then tries
 * them in this order, a silent one getting the next started beside it. */
static void order_addrs(const rf_engine *e, rf_origin *o) {
  struct sockaddr_storage v6[RF_MAX_ADDRS], v4[RF_MAX_ADDRS];
  int n6 = 0, n4 = 0;
  for (int i = 0; i < o->naddrs; i++) {
    if (o->addrs[i].ss_family == AF_INET6 && e->cfg.ip_version != 4)
      v6[n6++] = o->addrs[i];
    else if (o->addrs[i].ss_family == AF_INET && e->cfg.ip_version != 6)
      v4[n4++] = o->addrs[i];
  }
  int n = 0;
  for (int i = 0; i < n6 || i < n4; i++) {
    if (i < n6)
      o->addrs[n++] = v6[i];
    if (i < n4)
      o->addrs[n++] = v4[i];
  }
  o->naddrs = n;
}

static void finish(rf_engine *e, rf_origin *o, uint64_t ttl_ms) {
  o->dns_us = e->now_us > o->dns_started_us ? e->now_us - o->dns_started_us : 0;
  o->dns_expiry_ms = ttl_ms ? e->now_ms + ttl_ms : UINT64_MAX;
  rf_origin_resolved(e, o);
}

static void dns_fail(rf_engine *e, rf_origin *o, const char *msg) {
  o->dns = DNS_FAILED;
  o->dns_err = RF_ERR_DNS;
  snprintf(o->dns_msg, sizeof o->dns_msg, "cannot resolve %s: %s", o->host, msg);
  o->naddrs = 0;
  finish(e, o, DNS_NEG_TTL_MS);
}

static void lookup_next(rf_engine *e);

static void ares_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res) {
  query *q = arg;
  rf_engine *e = q->e;
  rf_origin *o = q->o;
  free(q);
  if (status == ARES_EDESTRUCTION) {
    if (res)
      ares_freeaddrinfo(res);
    return; /* engine teardown */
  }
  e->dns->pending--;
  lookup_next(e); /* before the callbacks below, which may ask for more */
  if (status != ARES_SUCCESS || !res) {
    dns_fail(e, o, ares_strerror(status));
    if (res)
      ares_freeaddrinfo(res);
    return;
  }
  o->naddrs = 0;
  int ttl = -1; /* the shortest of the answers' TTLs */
  for (struct ares_addrinfo_node *n = res->nodes; n && o->naddrs < RF_MAX_ADDRS; n = n->ai_next) {
    if ((n->ai_family != AF_INET && n->ai_family != AF_INET6) || !n->ai_addr)
      continue;
    memset(&o->addrs[o->naddrs], 0, sizeof o->addrs[0]);
    memcpy(&o->addrs[o->naddrs], n->ai_addr, (size_t)n->ai_addrlen);
    set_port(&o->addrs[o->naddrs], o->port);
    o->naddrs++;
    if (ttl < 0 || n->ai_ttl < ttl)
      ttl = n->ai_ttl < 0 ? 0 : n->ai_ttl;
  }
  ares_freeaddrinfo(res);
  if (o->naddrs == 0) {
    dns_fail(e, o, "no IPv4 or IPv6 address");
    return;
  }
  order_addrs(e, o);
  if (o->naddrs == 0) {
    dns_fail(e, o, e->cfg.ip_version == 4 ? "no IPv4 address (-4)" : "no IPv6 address (-6)");
    return;
  }
  o->dns = DNS_OK;
  /* a TTL of 0 ("do not cache") still holds for the 1 s minimum: one
   * lookup per burst of requests, not one per request */
  uint64_t ttl_ms = (uint64_t)ttl * 1000u;
  if (ttl_ms < DNS_MIN_TTL_MS)
    ttl_ms = DNS_MIN_TTL_MS;
  if (ttl_ms > DNS_MAX_TTL_MS)
    ttl_ms = DNS_MAX_TTL_MS;
  finish(e, o, ttl_ms);
}

static void lookup_start(rf_engine *e, rf_origin *o) {
  rf_resolver *r = e->dns;
  query *q = malloc(sizeof *q);
  if (!q) {
    dns_fail(e, o, "out of memory");
    return;
  }
  q->e = e;
  q->o = o;
  struct ares_addrinfo_hints hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = e->cfg.ip_version == 4 ? AF_INET : e->cfg.ip_version == 6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_flags = ARES_AI_NOSORT; /* sorting would connect() sockets synchronously */
  r->pending++;
  ares_getaddrinfo(r->ch, o->host, NULL, &hints, ares_cb, q); /* may call back at once */
}

/* A lookup finished: the next waiting one may start. */
static void lookup_next(rf_engine *e) {
  rf_resolver *r = e->dns;
  while (r->wait_head && r->pending < MAX_LOOKUPS) {
    rf_origin *o = r->wait_head;
    r->wait_head = o->dns_next;
    if (!r->wait_head)
      r->wait_tail = NULL;
    o->dns_next = NULL;
    lookup_start(e, o);
  }
}

void rf_resolve(rf_engine *e, rf_origin *o) {
  rf_resolver *r = e->dns;
  o->dns = DNS_RESOLVING;
  o->dns_started_us = e->now_us;
  o->dns_us = 0;
  if (o->host_kind != RF_HOST_NAME) {
    o->naddrs = rf_parse_addr(o->host, o->port, &o->addrs[0]) == 0 ? 1 : 0;
    if (!o->naddrs) {
      dns_fail(e, o, "invalid address literal");
      return;
    }
    order_addrs(e, o);
    if (!o->naddrs) {
      dns_fail(e, o, e->cfg.ip_version == 4 ? "an IPv6 address with -4" : "an IPv4 address with -6");
      return;
    }
    o->dns = DNS_OK;
    finish(e, o, 0);
    o->dns_us = 0;
    return;
  }
  const name_entry *ne = lookup(r, o->host, o->port);
  if (ne && ne->naddrs) {
    o->naddrs = ne->naddrs;
    memcpy(o->addrs, ne->addrs, sizeof ne->addrs[0] * (size_t)ne->naddrs);
    for (int i = 0; i < o->naddrs; i++)
      set_port(&o->addrs[i], o->port);
    order_addrs(e, o);
    if (o->naddrs == 0) {
      dns_fail(e, o, e->cfg.ip_version == 4 ? "no IPv4 address (-4)" : "no IPv6 address (-6)");
      return;
    }
    o->dns = DNS_OK;
    finish(e, o, 0);
    return;
  }
  if (!r->have_ares) {
    dns_fail(e, o, "no DNS resolver available");
    return;
  }
  if (r->pending >= MAX_LOOKUPS) { /* wait for a lookup to finish (FIFO) */
    o->dns_next = NULL;
    if (r->wait_tail)
      r->wait_tail->dns_next = o;
    else
      r->wait_head = o;
    r->wait_tail = o;
    return;
  }
  lookup_start(e, o);
}

void rf_resolver_on_cqe(rf_engine *e, uint64_t ud, int res) {
  rf_resolver *r = e->dns;
  if (rf_ud_op(ud) != OP_DNS_POLL)
    return; /* poll-remove completions */
  int fd = (int)rf_ud_idx(ud);
  if ((size_t)fd >= r->nfds)
    return;
  poll_state *ps = &r->fds[fd];
  if (rf_ud_gen(ud) != (ps->gen & 0xffffff))
    return; /* c-ares moved on (closed or re-registered the fd) */
  ps->armed = false;
  unsigned ev = res < 0 ? POLLERR : (unsigned)res;
  ares_socket_t rfd = (ev & (POLLIN | POLLERR | POLLHUP)) ? fd : ARES_SOCKET_BAD;
  ares_socket_t wfd = (ev & (POLLOUT | POLLERR)) ? fd : ARES_SOCKET_BAD;
  uint32_t gen = ps->gen;
  ares_process_fd(r->ch, rfd, wfd);
  ps = &r->fds[fd]; /* the table may have grown */
  if (ps->gen == gen && ps->want && !ps->armed)
    arm_poll(r, fd, ps);
}

void rf_resolver_tick(rf_engine *e) {
  rf_resolver *r = e->dns;
  if (r->have_ares && r->pending)
    ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

uint64_t rf_resolver_next_ms(rf_engine *e) {
  rf_resolver *r = e->dns;
  if (!r->have_ares || !r->pending)
    return UINT64_MAX;
  struct timeval tv;
  if (!ares_timeout(r->ch, NULL, &tv))
    return UINT64_MAX;
  return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u + 1;
}
