// mbuf_hog: a DPDK secondary process that empties a running dataplane's mbuf
// pool and holds it, so a test can starve the dataplane with no hook in its
// code; then gives every mbuf back.
//
//   mbuf_hog [--pool NAME] [--leave N] -- EAL args (--file-prefix of the dataplane)
//
// It takes every mbuf it can, gives back N (--leave: one mbuf lets a frame
// be received but not fragmented), prints "held H of S", and keeps sweeping
// up what comes back (mbufs that were in flight) until stdin closes or
// SIGTERM/SIGUSR1 arrives; then it puts them all back, prints "released H"
// and exits 0. No lcore cache is used (cache NULL): the primary's per-lcore
// caches are its own, so what they hold stays out of the hog's reach.
#include <poll.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mempool.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

volatile std::sig_atomic_t g_release = 0;

void on_signal(int) { g_release = 1; }

// Takes one object at a time until the pool says no; returns how many.
unsigned take_all(rte_mempool* mp, std::vector<void*>& held) {
  unsigned got = 0;
  void* obj = nullptr;
  while (held.size() < mp->size && rte_mempool_generic_get(mp, &obj, 1, nullptr) == 0) {
    held.push_back(obj);
    ++got;
  }
  return got;
}

// Puts the last `n` held objects back into the pool.
void give_back(rte_mempool* mp, std::vector<void*>& held, std::size_t n) {
  n = std::min(n, held.size());
  if (n == 0) return;
  rte_mempool_generic_put(mp, held.data() + held.size() - n, static_cast<unsigned>(n), nullptr);
  held.resize(held.size() - n);
}

// Whether stdin has closed (or the wait was cut by a signal), after at most 1 ms.
bool stdin_closed() {
  pollfd p{STDIN_FILENO, POLLIN, 0};
  if (poll(&p, 1, 1) <= 0) return false;
  char buf[256];
  return read(STDIN_FILENO, buf, sizeof(buf)) <= 0;
}

int usage(const char* why) {
  std::fprintf(stderr, "mbuf_hog: %s\nusage: mbuf_hog [--pool NAME] [--leave N] -- EAL args\n", why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string pool = "anylb_mbufs";  // dataplane/dpdk/startup.cpp's create_mbuf_pool
  unsigned long leave = 0;
  int i = 1;
  for (; i < argc && std::string(argv[i]) != "--"; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage(("missing value for " + a).c_str());
    if (a == "--pool") pool = argv[++i];
    else if (a == "--leave") leave = std::strtoul(argv[++i], nullptr, 10);
    else return usage(("unknown option " + a).c_str());
  }
  // EAL: always a secondary on lcore 0 with no devices of its own; the
  // caller names the primary (--file-prefix).
  std::vector<char*> eal = {argv[0], const_cast<char*>("--proc-type=secondary"), const_cast<char*>("-l"),
                            const_cast<char*>("0"), const_cast<char*>("--no-pci"),
                            const_cast<char*>("--no-telemetry")};
  for (int k = i + 1; k < argc; ++k) eal.push_back(argv[k]);
  if (rte_eal_init(static_cast<int>(eal.size()), eal.data()) < 0) {
    std::fprintf(stderr, "mbuf_hog: rte_eal_init: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  rte_mempool* mp = rte_mempool_lookup(pool.c_str());
  if (mp == nullptr) {
    std::fprintf(stderr, "mbuf_hog: no mempool '%s': %s\n", pool.c_str(), rte_strerror(rte_errno));
    rte_eal_cleanup();
    return 1;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGUSR1, on_signal);

  std::vector<void*> held;
  held.reserve(mp->size);
  take_all(mp, held);
  give_back(mp, held, leave);
  std::printf("held %zu of %u (cache %u a lcore, leaving %lu)\n", held.size(), mp->size, mp->cache_size, leave);
  std::fflush(stdout);

  // Mbufs in flight when we started come back later: take them too, but
  // never the `leave` the pool is meant to keep.
  std::vector<void*> sweep;
  while (!g_release && !stdin_closed()) {
    for (;;) {  // until the pool holds no more than `leave`
      sweep.clear();
      void* obj = nullptr;
      while (sweep.size() <= leave && rte_mempool_generic_get(mp, &obj, 1, nullptr) == 0) sweep.push_back(obj);
      const bool more = sweep.size() > leave;
      if (more) {
        held.push_back(sweep.back());
        sweep.pop_back();
      }
      if (!sweep.empty()) rte_mempool_generic_put(mp, sweep.data(), static_cast<unsigned>(sweep.size()), nullptr);
      if (!more) break;
    }
  }
  const std::size_t n = held.size();
  give_back(mp, held, n);
  std::printf("released %zu\n", n);
  std::fflush(stdout);
  rte_eal_cleanup();
  return 0;
}
