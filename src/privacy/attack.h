// Reconstruction attacks on the feature map that a cut exposes to the host
// (docs/privacy.md). This header needs no LibTorch headers: the CLI includes
// only it; the implementation (attack.cpp, nets.*) is built when LibTorch is.
//
// run_attacks() does, for one model, one data set and a set of cuts:
//  - attack data: the auxiliary set (the attacker's, the first --aux samples of
//    the train split) and the victim set (the first --victims samples of the
//    test split whose content is not in the auxiliary set); the feature map of
//    every sample at each cut, computed once by the oneDNN Session on the front
//    partition (what the host receives) and cached in DIR/cuts/NAME/;
//  - per cut: a linear probe (label leakage), then each attack: "cgan"
//    (pix2pix-style c-GAN), "inversion" (the decoder alone, L1 loss),
//    "optimization" (white-box, through the front lowered to LibTorch, with a
//    total-variation prior); each finished (cut, attack) is kept in
//    DIR/cuts/NAME/ATTACK.json, so a rerun resumes;
//  - DIR/attack.json (format: /docs/privacy.md and the report's contract) and a
//    PNG grid per cut in DIR/grids/.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "graph/cuts.h"
#include "graph/ir.h"

namespace teesplit {

// The attacks, in the order of the grids' rows: cgan, inversion, optimization.
inline const std::vector<std::string>& attack_names() {
  static const std::vector<std::string> names = {"cgan", "inversion", "optimization"};
  return names;
}

// Whether `name` is one of attack_names().
inline bool is_attack_name(const std::string& name) {
  const auto& n = attack_names();
  return std::find(n.begin(), n.end(), name) != n.end();
}

// The attacks of `requested` in attack_names() order, each once: the order in
// which a sweep runs them, writes them and lists them.
inline std::vector<std::string> attacks_in_order(const std::vector<std::string>& requested) {
  std::vector<std::string> out;
  for (const auto& a : attack_names())
    if (std::find(requested.begin(), requested.end(), a) != requested.end()) out.push_back(a);
  return out;
}

struct AttackOptions {
  std::string model;                      // ONNX file
  std::string dataset = "fashion-mnist";  // open_dataset() spec
  std::string cuts = "blocks";            // "all", "blocks" or a comma list of names/indices
  std::vector<std::string> attacks = {"cgan", "inversion", "optimization"};
  int64_t steps = 2000;      // training step budget (cgan, inversion)
  int64_t opt_steps = 1000;  // optimisation iteration budget (optimization)
  int64_t aux = 4096;        // auxiliary samples (train split); 10% of them validate
  int64_t victims = 256;     // victim samples (test split)
  int64_t batch = 64;
  int64_t decoder_width = 128;  // channels of the decoder's first stage
  int64_t eval_every = 100;     // validation period (steps)
  int64_t patience = 5;         // plateau: no gain > min_delta in this many evaluations
  double min_delta = 0.002;
  double l1_weight = 100;  // c-GAN: adversarial + l1_weight * L1
  double tv_weight = -1;   // optimisation: total-variation prior weight; < 0: chosen (docs)
  uint64_t seed = 0;
  std::string precision = "fp32";  // the front partition's, as the enclave runs it: fp32 or bf16
  int threads = 2;
  int shard_index = 0, shard_count = 1;  // attack cuts at positions i with i % count == index
  bool progress = true;                  // progress bar on stderr
  // When set, the progress line is kept in this file (overwritten in place)
  // instead of stderr: `teesplit attack --jobs` shows its processes' lines.
  std::string progress_file;
  FILE* log = stdout;   // one line per finished (cut, attack); nullptr: silent
  std::string output;   // DIR (required)
  std::string command;  // the command line, for attack.json
};

// Runs the sweep described above; writes opts.output/attack.json atomically.
// Throws Error with context for bad options, models or data.
void run_attacks(const AttackOptions& opts);

// Joins the attack.json of several (shard) directories into out/attack.json,
// copying their grids; throws Error when models, data sets or options differ
// (other than shard, threads and jobs) or when two directories hold the same cut.
void merge_attacks(const std::vector<std::string>& dirs, const std::string& out,
                   const std::string& command = "");

}  // namespace teesplit
