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
    std::fprintf(stderr, "anylb-controlplane: %s\n", e.what());
    return 2;
  }

  anylb::cp::ControlConfig config;
  try {
    config = anylb::cp::load_config(config_path);
  } catch (const anylb::cp::ConfigError& e) {
    std::fprintf(stderr, "anylb-controlplane: %s\n", e.what());
    return 2;
  } catch (const YAML::Exception& e) {  // what the checks did not reach
    std::fprintf(stderr, "anylb-controlplane: %s: %s\n", config_path.c_str(), e.what());
    return 2;
  }
  if (check_only) {
    std::printf("%s: valid, %zu service(s)\n", config_path.c_str(), config.services.size());
    return 0;
  }

  spdlog::info("node {}: {} service(s), dataplane {}, gobgpd {}", config.node_name, config.services.size(),
               config.dataplane_socket, config.gobgp_api);
  const std::string api_socket = config.api_socket, api_tcp = config.api_tcp, metrics = config.metrics_listen;
  std::unique_ptr<anylb::cp::Node> node_ptr;
  std::unique_ptr<anylb::cp::ApiServer> api;
  std::unique_ptr<anylb::cp::MetricsServer> metrics_server;
  const anylb::cp::ControlConfig configured = config;
  try {
    node_ptr = std::make_unique<anylb::cp::Node>(std::move(config));  // reads the state file
  } catch (const std::exception& e) {
    // The state file, or the API changes in it, cannot run: fail closed. The
    // paths an earlier run left would stay announced with nothing checking
    // what they draw. (Not for a busy socket below: that may be another
    // instance, whose routes are not ours to take away.)
    anylb::cp::withdraw_paths_of(configured);
    std::fprintf(stderr, "anylb-controlplane: %s\n", e.what());
    return 2;
  }
  try {
    if (!api_socket.empty() || !api_tcp.empty()) api = std::make_unique<anylb::cp::ApiServer>(*node_ptr, api_socket, api_tcp);
    if (!metrics.empty()) metrics_server = std::make_unique<anylb::cp::MetricsServer>(*node_ptr, metrics);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "anylb-controlplane: %s\n", e.what());
    return 2;
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
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (withdraw_on_exit) node_ptr->withdraw_all();
  spdlog::info("stopping");
  return 0;
}
