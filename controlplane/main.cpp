// anylb-controlplane: health checks, desired state pushed to the dataplane,
// health-gated BGP announcements through gobgpd.
#include <boost/program_options.hpp>

#include <csignal>
#include <iostream>
#include <cstdio>
#include <spdlog/spdlog.h>
#include <thread>
#include <yaml-cpp/yaml.h>

#include "api_server.hpp"
#include "config.hpp"
#include "metrics.hpp"
#include "node.hpp"
#include "orphan_guard.hpp"
#include "po_error_text.hpp"
#include "start_guard.hpp"

namespace po = boost::program_options;

namespace {

volatile std::sig_atomic_t g_reload = 0;
volatile std::sig_atomic_t g_stop = 0;

void on_signal(int sig) {
  if (sig == SIGHUP) g_reload = 1;
  else g_stop = 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path, log_level = "info";
  bool check_only = false, withdraw_on_exit = false;
  po::options_description desc(
      "anylb-controlplane: health checks and health-gated BGP announcements for an anylb node\n\n"
      "Usage: anylb-controlplane --config FILE [OPTIONS]\n\nOptions");
  desc.add_options()
      ("help,h", "print this help and exit")
      ("config,c", po::value(&config_path)->value_name("FILE"), "the YAML configuration (configs/controlplane-example.yaml); re-read on SIGHUP")
      ("log-level", po::value(&log_level)->default_value(log_level)->value_name("LEVEL"), "trace, debug, info, warn, error")
      ("check", po::bool_switch(&check_only), "validate the configuration and exit (0 valid, 2 not)")
      ("withdraw-on-exit", po::bool_switch(&withdraw_on_exit),
       "withdraw our routes when stopped (default: leave them, so a restart does not flap them: "
       "the next start keeps them while its first health checks run, then withdraws what is not "
       "served; drain the node first for maintenance)");
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << desc;
      return 0;
    }
    if (config_path.empty()) throw po::error("option '--config' is required");
    const auto level = spdlog::level::from_str(log_level);
    if (level == spdlog::level::off && log_level != "off") throw po::error("option 'log-level': '" + log_level + "' is not a level");
    spdlog::set_level(level);
  } catch (const po::error& e) {
    std::fprintf(stderr, "anylb-controlplane: %s\n", anylb::po_error_text(e).c_str());
    return 2;
  }

  anylb::cp::ControlConfig config;
  std::string config_error;
  try {
    config = anylb::cp::load_config(config_path);
  } catch (const anylb::cp::ConfigError& e) {
    config_error = e.what();
  } catch (const YAML::Exception& e) {  // what the checks did not reach
    config_error = config_path + ": " + e.what();
  }
  if (check_only) {
    if (!config_error.empty()) {
      std::fprintf(stderr, "anylb-controlplane: %s\n", config_error.c_str());
      return 2;
    }
    std::printf("%s: valid, %zu service(s)\n", config_path.c_str(), config.services.size());
    return 0;
  }

  // One control plane per node: a second one, started by mistake, touches
  // nothing (the routes are the running one's). Any other start that
  // fails withdraws what an earlier run left in gobgpd: nothing would
  // check it (a restart that works keeps it: see Node).
  const anylb::cp::ControlConfig known = config_error.empty() ? config : anylb::cp::salvage_config(config_path);
  anylb::cp::InstanceLock lock;
  if (const std::string why = lock.take(known); !why.empty()) {
    if (!lock.busy()) return anylb::cp::fail_start(known, why);
    std::fprintf(stderr, "anylb-controlplane: not started: %s; its routes are left as they are\n", why.c_str());
    return 2;
  }
  if (!config_error.empty()) return anylb::cp::fail_start(known, config_error);
  // Forked now, before any thread: the dead-man's switch of our paths.
  std::unique_ptr<anylb::cp::OrphanGuard> guard;
  if (config.orphan_timeout_ms > 0) {
    try {
      guard = std::make_unique<anylb::cp::OrphanGuard>(config, lock.path(), lock.fd());
    } catch (const std::exception& e) {
      return anylb::cp::fail_start(config, e.what());
    }
    spdlog::info("orphan guard (pid {}): withdraws our paths {} ms after this process ends, unless another control "
                 "plane of the node takes over",
                 guard->pid(), config.orphan_timeout_ms);
  }
  // A start that fails below withdraws everything: nothing left to guard,
  // unless gobgpd refused some of it (the guard tries again in time).
  const auto failed = [&](int status, bool whole) {
    if (guard && whole) guard->dismiss();
    return status;
  };

  spdlog::info("node {}: {} service(s), dataplane {}, gobgpd {}", config.node_name, config.services.size(),
               config.dataplane_socket, config.gobgp_api);
  const std::string metrics = config.metrics_listen;
  std::unique_ptr<anylb::cp::Node> node_ptr;
  std::unique_ptr<anylb::cp::ApiServer> api;
  std::unique_ptr<anylb::cp::MetricsServer> metrics_server;
  const anylb::cp::ControlConfig configured = config;
  try {
    node_ptr = std::make_unique<anylb::cp::Node>(std::move(config));  // reads the state file
  } catch (const std::exception& e) {  // the state file, or the API changes in it, cannot run
    bool whole = false;
    const int status = anylb::cp::fail_start(configured, e.what(), &whole);
    return failed(status, whole);
  }
  try {
    if (!configured.api_socket.empty() || !configured.api_registrar_socket.empty() || !configured.api_tcp.empty())
      api = std::make_unique<anylb::cp::ApiServer>(*node_ptr, configured);
    if (!metrics.empty()) metrics_server = std::make_unique<anylb::cp::MetricsServer>(*node_ptr, metrics);
  } catch (const std::exception& e) {  // a listener that cannot bind (we hold the node's lock: not another instance's)
    std::fprintf(stderr, "anylb-controlplane: %s\n", e.what());
    std::fprintf(stderr, "anylb-controlplane: not started: withdrawing the paths of our prefixes gobgpd holds\n");
    return failed(2, node_ptr->withdraw_all());
  }
  std::signal(SIGHUP, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  while (!g_stop) {
    if (g_reload) {
      g_reload = 0;
      try {
        node_ptr->reload(anylb::cp::load_config(config_path));
      } catch (const anylb::cp::ConfigError& e) {
        spdlog::error("reload refused, configuration unchanged: {}", e.what());
      } catch (const YAML::Exception& e) {
        spdlog::error("reload refused, configuration unchanged: {}: {}", config_path, e.what());
      }
    }
    node_ptr->step(anylb::cp::monotonic_ms());
    if (guard) guard->update(node_ptr->owned_prefixes());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (withdraw_on_exit && node_ptr->withdraw_all() && guard) guard->dismiss();
  spdlog::info("stopping");
  return 0;
}
