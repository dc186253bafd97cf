// The handlers the command table names: each reads its checked words
// (cli.operands) and flags, asks its target, and prints the answer.
#pragma once

#include "cli.hpp"

namespace anylb::ctl {

class Target;
class DataplaneTarget;
class ControlPlaneTarget;

namespace verbs {

void service_list(const Cli& cli, Target& t);
void service_show(const Cli& cli, Target& t);
void service_add(const Cli& cli, Target& t);
void service_del(const Cli& cli, Target& t);
void backend_add(const Cli& cli, Target& t);
void backend_del(const Cli& cli, Target& t);
void backend_state(const Cli& cli, Target& t);  // drain, undrain, enable, disable: the verb says which
void backend_weight(const Cli& cli, Target& t);
void backend_register(const Cli& cli, ControlPlaneTarget& t);
void backend_heartbeat(const Cli& cli, ControlPlaneTarget& t);
void backend_deregister(const Cli& cli, ControlPlaneTarget& t);
void backend_registrations(const Cli& cli, ControlPlaneTarget& t);
void stats(const Cli& cli, Target& t);
void flows(const Cli& cli, Target& t);
void trace(const Cli& cli, Target& t);
void health(const Cli& cli, Target& t);
void node(const Cli& cli, Target& t);
void node_drain(const Cli& cli, ControlPlaneTarget& t);  // drain or undrain: the verb says which
void routes(const Cli& cli, ControlPlaneTarget& t);
void state(const Cli& cli, DataplaneTarget& t);
void apply(const Cli& cli, DataplaneTarget& t);

}  // namespace verbs
}  // namespace anylb::ctl
