// TON_IoT network flows (Train_Test_Network.csv, Network_dataset_*.csv) as small
// single-channel images. Columns are found by header name (case-insensitive); the
// encoding is fitted on the training split only and serialises to a string so that
// inference encodes rows exactly as training did. See docs/data.md for the layout.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/csv.h"
#include "data/dataset.h"

namespace teesplit {

// The ten traffic types, in class-index order: normal, backdoor, ddos, dos, injection,
// mitm, password, ransomware, scanning, xss.
const std::vector<std::string>& ton_iot_types();

// Deterministic train/test assignment of data row `row_index` (0 = first row after the
// header): splitmix64(row_index ^ splitmix64(seed)) (core/hash.h) mapped to [0,1) by its
// top 53 bits and compared with train_ratio.
bool ton_iot_in_train(uint64_t row_index, double train_ratio, uint64_t seed);

enum class ColumnKind { Numeric, Categorical, Boolean, Hashed };

struct EncodedColumn {
  std::string name;  // lower-case header name
  ColumnKind kind = ColumnKind::Numeric;
  int64_t offset = 0;  // first slot in the side*side vector
  int64_t width = 1;   // slots used
  // Numeric: z = (sign(x) log1p(|x|) - mean) / std over the training rows.
  double mean = 0, std = 1;
  int64_t max_vocab = 0;           // Categorical: vocabulary cap
  std::vector<std::string> vocab;  // Categorical: most frequent training values first
};

struct FeatureEncoderOptions {
  int64_t side = 8;  // 8 (one slot per column) or 16 (one-hot and missing flags)
  bool include_identifiers = false;
  int64_t hash_buckets = 0;  // 0: 64 for side 8, 16 for side 16
  double train_ratio = 0.8;
  uint64_t split_seed = 0x7e5e5917;
};

class FeatureEncoder;

// Column positions of one CSV header, for one encoder.
struct HeaderBinding {
  std::vector<int> column_field;  // per encoder column: field index
  int label_field = -1;
  int type_field = -1;
  size_t num_fields = 0;
};

// One CSV row after validation.
struct TonIotRow {
  std::vector<float> features;  // side*side values (empty unless encoded)
  int64_t label = 0;            // 0 normal, 1 attack
  int64_t type = 0;             // index into ton_iot_types()
  int64_t line = 0;             // line where the record starts
  int64_t index = 0;            // data row index (0-based)
  bool train = false;           // in the train split
};

class FeatureEncoder {
 public:
  // One streaming pass over the CSV: checks every row (field count, label, type) and
  // fits statistics and vocabularies on the train-split rows only.
  static FeatureEncoder fit(const std::string& csv_path, const FeatureEncoderOptions& opt);

  // key=value lines; from_string(to_string()) encodes identically. from_string throws
  // Error naming the line for anything malformed.
  std::string to_string() const;
  static FeatureEncoder from_string(const std::string& s);

  int64_t side() const { return opt_.side; }
  int64_t num_slots() const { return opt_.side * opt_.side; }
  int64_t num_features() const;  // slots in use (the rest are zero padding)
  const FeatureEncoderOptions& options() const { return opt_; }
  const std::vector<EncodedColumn>& columns() const { return cols_; }
  int64_t fitted_rows() const { return fitted_rows_; }
  // Human-readable layout: one line per column.
  std::string layout() const;

  // Maps a header (lower-cased names) to field indices; throws Error naming `where`
  // and every missing required column.
  HeaderBinding bind(const std::vector<std::string>& header, const std::string& where) const;
  // Encodes a record into out[num_slots()]; throws Error naming `where` (file and line)
  // and the column for a non-numeric value in a numeric column or a bad boolean.
  void encode(const std::vector<std::string>& fields, const HeaderBinding& b, float* out,
              const std::string& where) const;

 private:
  void build_layout(const std::vector<std::string>& header_names);
  void index_vocab();
  FeatureEncoderOptions opt_;
  std::vector<EncodedColumn> cols_;
  std::vector<std::unordered_map<std::string, int>> vocab_index_;
  int64_t fitted_rows_ = 0;
};

// Streams validated (and, with an encoder, encoded) rows of a TON_IoT CSV.
class TonIotReader {
 public:
  enum class Split { All, Train, Test };
  // encoder may be null (rows are validated, not encoded). The split uses the
  // encoder's ratio/seed, or `split_opt` when encoder is null.
  TonIotReader(const std::string& path, const FeatureEncoder* encoder, Split split = Split::All,
               const FeatureEncoderOptions& split_opt = {});
  // Next row of the chosen split; false at the end.
  bool next(TonIotRow& row);
  const std::vector<std::string>& header() const { return header_; }
  const std::vector<std::string>& fields() const { return fields_; }
  uint64_t record_offset() const { return csv_.record_offset(); }

 private:
  CsvReader csv_;
  const FeatureEncoder* enc_;
  Split split_;
  FeatureEncoderOptions split_opt_;
  std::vector<std::string> header_, fields_;
  HeaderBinding bind_;
  int64_t index_ = 0;
};

// Lower-cased, trimmed header names (a BOM is removed by the CSV reader); throws Error
// for duplicates.
std::vector<std::string> ton_iot_normalize_header(const std::vector<std::string>& raw,
                                                  const std::string& where);
// Parses the label (0/1) and type columns of a record; throws Error naming `where`.
void ton_iot_parse_targets(const std::vector<std::string>& fields, int label_field, int type_field,
                           const std::string& where, int64_t* label, int64_t* type);

// The Dataset over one split: one pass indexes the rows (byte offset, line, targets:
// 17 bytes per row) and fits the encoder unless opt.encoder holds one; get(i) re-reads
// row i from disk and encodes it. input_shape() = {1, side, side}.
std::unique_ptr<Dataset> open_ton_iot(const std::string& csv_path, const DatasetOptions& opt);

}  // namespace teesplit
