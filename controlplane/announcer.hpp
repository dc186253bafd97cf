// What the node has put in gobgpd, and the pass that makes gobgpd hold
// exactly what the announcement rule (announcement_rule.hpp) decided. The
// one owner of our paths: the node's status reads what it holds, never
// what it meant to send.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "announcement_rule.hpp"
#include "gobgp_client.hpp"

namespace anylb::cp {

class Announcer {
 public:
  explicit Announcer(GobgpClient& gobgp) : gobgp_(gobgp) {}

  // Which of `ours` gobgpd holds as local paths now (both families), and
  // of those the ones this run did not send (left by an earlier run, or
  // added by an operator under one of our prefixes). A path we sent that
  // gobgpd lost (it restarted) is forgotten, so the next sync sends it again.
  struct Rib {
    std::map<std::string, PathSpec> held;  // by prefix, with its attributes
    std::set<std::string> left;
    bool whole = true;  // both families read
    std::string error;  // the last family's failure
  };
  Rib read(const std::set<std::string>& ours, uint32_t asn);

  // Adds and withdraws until gobgpd holds what `decisions` announce, with
  // their paths. A path an earlier run left that is the one wanted is
  // taken over as it is, not sent again: a restart sends the peers no
  // UPDATE. `record` is the state file's list of the prefixes we have
  // put in gobgpd: the paths about to be sent join it, then `write_state`
  // is called (once, before anything is sent: a crash in between leaves a
  // record of a path gobgpd may not hold, which costs nothing; the other
  // way round would leave a path no run knows as its own). Withdrawn
  // prefixes, and those gobgpd was found not to hold, leave the record
  // afterwards (written by the next pass). Returns false, with `error`,
  // if gobgpd refused anything.
  bool sync(const std::vector<PrefixDecision>& decisions, const Rib& rib, std::set<std::string>& record,
            const std::function<void()>& write_state, std::string& error);

  // gobgpd is down or restarting: it will need everything again.
  void forget() { sent_.clear(); }
  // Withdraws everything of ours gobgpd holds: what this run sent, and of
  // `ours` what it holds from an earlier run; those leave `record`.
  // Returns false if gobgpd refused any of it.
  bool withdraw_all(const std::set<std::string>& ours, std::set<std::string>& record);

  // The path gobgpd holds from us for `prefix`, or nullptr.
  const PathSpec* holds(const std::string& prefix) const {
    const auto it = sent_.find(prefix);
    return it == sent_.end() ? nullptr : &it->second;
  }

 private:
  GobgpClient& gobgp_;
  std::map<std::string, PathSpec> sent_;  // by prefix
};

// Withdraws each of `ours` that gobgpd holds as a local path; returns those
// withdrawn. For a control plane that cannot start, and for withdraw_all.
// `whole`, if given, is set false when gobgpd refused a read or a withdrawal.
std::set<std::string> withdraw_held(GobgpClient& gobgp, const std::set<std::string>& ours, bool* whole = nullptr);

}  // namespace anylb::cp
