// Training of zoo models with LibTorch (the graph lowered by src/torch), evaluation
// on the test split, and the trained weights written back into the zoo's ONNX
// model. This header needs no LibTorch headers: the CLI includes only it.
//
// What train_model() does (docs/training.md):
//  - builds the zoo model (arch, input_size, channels and classes from the data
//    set, width, seed), lowers it to LibTorch and trains it with SGD (Nesterov
//    momentum 0.9) or Adam, cross-entropy loss, linear warm-up then cosine decay;
//  - images: random crop (zero padding of input_size/16) and horizontal flip;
//    tabular data (TON_IoT rows): no augmentation, each side x side row image is
//    upsampled (nearest) to input_size, which must be a multiple of the side;
//  - evaluates on the test split after every epoch (stdout line per epoch;
//    progress bar with loss, accuracy, images/s on stderr);
//  - writes the zoo ModelProto with every initializer replaced by name (BN
//    running statistics included; topology unchanged) and metadata
//    teesplit.dataset, teesplit.test_accuracy, teesplit.epochs,
//    teesplit.train_options, teesplit.preprocess, teesplit.class_names and, for
//    tabular data, teesplit.feature_encoder (Dataset::encoder_string()) and
//    teesplit.tabular_upsample;
//  - checks that the engine (Session, oneDNN) agrees with LibTorch on a test
//    batch of the written model.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "data/dataset.h"
#include "graph/ir.h"

namespace teesplit {

struct TrainOptions {
  std::string arch = "vgg16";             // zoo_archs()
  std::string dataset = "fashion-mnist";  // open_dataset() spec
  int64_t input_size = 32;
  double width = 0.25;
  int64_t epochs = 10;
  int64_t batch = 128;
  std::string optimizer = "sgd";  // "sgd" or "adam"
  double lr = 0;                  // 0: 0.05 (sgd) or 1e-3 (adam)
  double weight_decay = -1;       // < 0: 5e-4 (sgd) or 0 (adam)
  double warmup_epochs = 0.5;     // linear warm-up, then cosine decay to 0
  uint64_t seed = 0;              // weights, shuffling, augmentation, dropout
  int threads = 2;                // at::set_num_threads
  int augment = -1;               // -1: images yes, tabular no; 0: off; 1: on
  int64_t crop_pad = -1;          // random-crop zero padding; < 0: max(1, input_size / 16)
  int64_t train_limit = 0;        // use the first N training samples (0: all)
  int64_t test_limit = 0;         // evaluate on the first N test samples (0: all)
  bool progress = true;           // progress bar on stderr
  FILE* summary = stdout;         // one line per epoch; nullptr: silent
  size_t cache_limit_bytes = size_t{4} << 30;  // hold the train split in memory up to this
  std::string output;                          // ONNX file to write; empty: none
  DatasetOptions data;  // loader options; split, image_size and channels are set here
};

struct EpochResult {
  int64_t epoch = 0;  // 1-based
  double train_loss = 0, train_accuracy = 0;
  double test_loss = 0, test_accuracy = 0;
  double seconds = 0, images_per_second = 0;
};

struct TrainResult {
  std::vector<EpochResult> epochs;
  double first_loss = 0;     // mean loss of the first training step
  double test_accuracy = 0;  // after the last epoch
  // Engine check of the written model (when output is set): LibTorch eval-mode
  // logits vs Session(oneDNN) on up to 256 test samples.
  double engine_rel_error = -1;
  int64_t engine_agree = 0, engine_checked = 0;
  std::map<std::string, std::string> metadata;  // what was written
};

// Trains as described above; throws Error with context for bad options, data or
// files. Writes opts.output atomically (a temporary file, then rename).
TrainResult train_model(const TrainOptions& opts);

// Logits of a graph run by the LibTorch lowering in eval mode, for an input
// batch; for tests and for comparing the engine with LibTorch.
Tensor torch_forward(const Graph& g, const Tensor& input, int threads = 2);

// Limits LibTorch to `threads` intra-op threads and OpenBLAS to one thread (it
// would otherwise start its own threads and fight OpenMP for the cores).
void set_torch_threads(int threads);

// Keeps the memory a training step frees in the process's heap. By default glibc
// serves blocks over 128 KiB (its threshold then adapts) with mmap and gives the
// top of the heap back to the kernel once 128 KiB are free there; a LibTorch
// training step frees and reallocates megabytes of activations, so every step
// faulted them in again: 4.3 million minor page faults and 25 s of system time in
// a 100-step attack at a VGG-16 cut, and the attacks trained 1.7 to 2 times slower
// (docs/privacy.md, "Training speed"). From this call on, blocks up to 256 MiB
// come from the heap and freed memory stays there until the process exits: the
// peak resident memory is the same (it is reached anyway), but it is not given
// back. For the training commands (train, attack), not for long-lived servers.
// Returns false (and changes nothing more) if glibc refused a setting.
bool keep_freed_memory_in_heap();

}  // namespace teesplit
