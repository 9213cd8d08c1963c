// Tests for src/data: IDX (Fashion-MNIST), ImageNet folders, the CSV reader and the
// TON_IoT encoder/data set, and the `teesplit data` command.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "core/file.h"
#include "data/csv.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "data/ton_iot.h"
#include "io/image.h"
#include "support/test_support.h"
#include "tools/teesplit/cli.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;

// One folder per test: ctest -j runs the tests of this file in parallel
// processes, and two of them rebuilding one tree raced (a file vanished under
// ImageFolder.CorruptImageErrorsOrIsSkipped in the fresh-machine check).
std::string gen_dir(const std::string& sub) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string test =
      info ? std::string(info->test_suite_name()) + "." + info->name() : "none";
  fs::path d = fs::path(testing::generated_dir()) / "data" / test / sub;
  fs::create_directories(d);
  return d.string();
}

using testing::error_of;

#define EXPECT_ERROR_HAS(stmt, ...)                                                 \
  do {                                                                              \
    std::string _e = error_of([&] { stmt; });                                       \
    EXPECT_FALSE(_e.empty()) << #stmt << " did not throw";                          \
    for (std::string _s : {__VA_ARGS__})                                            \
      EXPECT_NE(_e.find(_s), std::string::npos) << "'" << _s << "' not in: " << _e; \
  } while (0)

void write_text(const std::string& path, const std::string& s) {
  write_file(path, s);
}

// ------------------------------------------------------------------ IDX

TEST(Idx, RealFashionMnist) {
  std::string dir = kFashionMnistDir;
  TS_REQUIRE_ORACLE(fs::exists(dir + "/train-images-idx3-ubyte.gz") &&
                        fs::exists(dir + "/t10k-images-idx3-ubyte.gz"),
                    "Fashion-MNIST not installed in " << dir << " (dataset-fashion-mnist)");
  auto train = open_dataset("fashion-mnist");
  EXPECT_EQ(train->size(), 60000);
  EXPECT_EQ(train->input_shape(), (Shape{1, 28, 28}));
  EXPECT_EQ(train->num_classes(), 10);
  EXPECT_EQ(train->class_names()[9], "Ankle boot");
  for (int64_t c : train->class_counts()) EXPECT_EQ(c, 6000);
  Sample s = train->get(0);
  EXPECT_EQ(s.image.shape(), (Shape{1, 28, 28}));
  float lo = 1, hi = 0;
  for (int64_t i = 0; i < s.image.numel(); ++i)
    lo = std::min(lo, s.image.data<float>()[i]), hi = std::max(hi, s.image.data<float>()[i]);
  EXPECT_GE(lo, 0.0f);
  EXPECT_LE(hi, 1.0f);
  EXPECT_GT(hi, 0.5f);
  DatasetOptions o;
  o.split = "test";
  o.image_size = 32;
  o.channels = 3;
  auto test = open_dataset("fashion-mnist:" + dir, o);
  EXPECT_EQ(test->size(), 10000);
  EXPECT_EQ(test->input_shape(), (Shape{3, 32, 32}));
  for (int64_t c : test->class_counts()) EXPECT_EQ(c, 1000);
  Batch b = test->get_batch(9998, 5);
  EXPECT_EQ(b.images.shape(), (Shape{2, 3, 32, 32}));
}

std::vector<uint8_t> idx_bytes(uint32_t magic, std::vector<uint32_t> dims,
                               const std::vector<uint8_t>& data) {
  std::vector<uint8_t> b;
  auto put = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

void write_gz(const std::string& path, const std::vector<uint8_t>& b) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, b.data(), unsigned(b.size())), int(b.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

TEST(Idx, GeneratedFilesRawAndGzip) {
  const int n = 5, rows = 3, cols = 4;
  std::vector<uint8_t> px(n * rows * cols), lab = {3, 1, 4, 1, 5};
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 11 % 256);
  auto img = idx_bytes(0x803, {n, rows, cols}, px);
  auto lbl = idx_bytes(0x801, {n}, lab);
  for (bool gz : {false, true}) {
    std::string d = gen_dir(gz ? "idx_gz" : "idx_raw");
    for (auto p : fs::directory_iterator(d)) fs::remove(p.path());
    if (gz) {
      write_gz(d + "/train-images-idx3-ubyte.gz", img);
      write_gz(d + "/train-labels-idx1-ubyte.gz", lbl);
    } else {
      write_file(d + "/train-images-idx3-ubyte", img.data(), img.size());
      write_file(d + "/train-labels-idx1-ubyte", lbl.data(), lbl.size());
    }
    auto ds = open_dataset("mnist:" + d);
    ASSERT_EQ(ds->size(), n);
    EXPECT_EQ(ds->input_shape(), (Shape{1, rows, cols}));
    for (int i = 0; i < n; ++i) {
      Sample s = ds->get(i);
      EXPECT_EQ(s.label, lab[i]);
      for (int k = 0; k < rows * cols; ++k)
        ASSERT_EQ(s.image.data<float>()[k], float(px[i * rows * cols + k]) / 255.0f);
    }
    EXPECT_THROW(ds->get(n), Error);
    EXPECT_THROW(ds->get(-1), Error);
    // mean/std normalisation and 3 channels
    DatasetOptions o;
    o.channels = 3;
    o.mean = {0.5f};
    o.std = {0.25f};
    auto ds3 = open_dataset("mnist:" + d, o);
    Sample s = ds3->get(2);
    ASSERT_EQ(s.image.shape(), (Shape{3, rows, cols}));
    EXPECT_EQ(s.image.data<float>()[2 * rows * cols + 1], (px[2 * 12 + 1] / 255.0f - 0.5f) / 0.25f);
  }
  // Truncated and inconsistent files.
  std::string d = gen_dir("idx_bad");
  auto put_pair = [&](const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    for (auto p : fs::directory_iterator(d)) fs::remove(p.path());
    write_file(d + "/train-images-idx3-ubyte", a.data(), a.size());
    write_file(d + "/train-labels-idx1-ubyte", b.data(), b.size());
  };
  std::vector<uint8_t> cut(img.begin(), img.end() - 5);
  put_pair(cut, lbl);
  EXPECT_ERROR_HAS(open_dataset("mnist:" + d), "train-images-idx3-ubyte", "truncated",
                   "byte offset");
  std::vector<uint8_t> extra = img;
  extra.push_back(0);
  put_pair(extra, lbl);
  EXPECT_ERROR_HAS(open_dataset("mnist:" + d), "after the data");
  put_pair(img, idx_bytes(0x801, {4}, {1, 2, 3, 4}));
  EXPECT_ERROR_HAS(open_dataset("mnist:" + d), "5 images", "4 labels");
  put_pair(lbl, lbl);
  EXPECT_ERROR_HAS(open_dataset("mnist:" + d), "magic");
  put_pair(img, idx_bytes(0x801, {5}, {1, 2, 13, 4, 5}));
  EXPECT_ERROR_HAS(open_dataset("mnist:" + d), "label 13", "byte offset 10");
  put_pair(std::vector<uint8_t>(img.begin(), img.begin() + 6), lbl);
  EXPECT_ERROR_HAS(open_dataset("mnist:" + d), "truncated");
  // A truncated gzip stream.
  for (auto p : fs::directory_iterator(d)) fs::remove(p.path());
  std::string gzp = d + "/train-images-idx3-ubyte.gz";
  write_gz(gzp, img);
  std::string gzb = read_file(gzp);
  gzb.resize(gzb.size() - 12);
  write_file(gzp, gzb.data(), gzb.size());
  write_file(d + "/train-labels-idx1-ubyte", lbl.data(), lbl.size());
  EXPECT_ERROR_HAS(open_dataset("mnist:" + d), "train-images-idx3-ubyte.gz");
  EXPECT_ERROR_HAS(open_dataset("mnist:" + gen_dir("idx_empty")), "exists");
}

// ------------------------------------------------------------------ ImageNet folders

Image constant_image(int w, int h, int c, const std::vector<uint8_t>& v) {
  Image img;
  img.width = w;
  img.height = h;
  img.channels = c;
  img.data.resize(size_t(w) * h * c);
  for (size_t i = 0; i < img.data.size(); ++i) img.data[i] = v[i % c];
  return img;
}

struct Tree {
  std::string root;
  std::map<std::string, std::vector<uint8_t>> colour;  // class -> RGB
};

Tree make_tree() {
  Tree t;
  t.root = gen_dir("imagenet");
  fs::remove_all(t.root);
  t.colour = {{"n01_bird", {10, 200, 30}}, {"n02_cat", {250, 0, 128}}, {"n03_dog", {77, 77, 77}}};
  int k = 0;
  for (auto& [cls, rgb] : t.colour) {
    fs::create_directories(t.root + "/train/" + cls);
    for (int i = 0; i < 3; ++i) {
      Image img = constant_image(40 + 7 * i, 30 + 5 * k, 3, rgb);
      std::string name = t.root + "/train/" + cls + "/img" + std::to_string(i);
      write_png(name + (i == 1 ? ".JPEG" : ".png"), img);  // .JPEG holding a PNG: content decides
    }
    ++k;
  }
  write_text(t.root + "/train/n01_bird/notes.txt", "not an image");
  // Grey image in the cat class.
  write_png(t.root + "/train/n02_cat/grey.png", constant_image(33, 33, 1, {99}));
  // Flat validation folder with a label file.
  fs::create_directories(t.root + "/val");
  write_png(t.root + "/val/v1.png", constant_image(50, 50, 3, t.colour["n03_dog"]));
  write_png(t.root + "/val/v2.png", constant_image(50, 40, 3, t.colour["n01_bird"]));
  write_png(t.root + "/val/v3.png", constant_image(20, 50, 3, t.colour["n02_cat"]));
  write_text(t.root + "/val_labels.txt",
             "# comment\nv1.png n03_dog\nv2.png,n01_bird\r\nv3 n02_cat\n");
  return t;
}

TEST(ImageFolder, TrainAndValLayouts) {
  Tree t = make_tree();
  DatasetOptions o;
  o.image_size = 32;
  auto ds = open_dataset("imagenet:" + t.root, o);
  ASSERT_EQ(ds->size(), 10);
  EXPECT_EQ(ds->num_classes(), 3);
  EXPECT_EQ(ds->class_names(), (std::vector<std::string>{"n01_bird", "n02_cat", "n03_dog"}));
  EXPECT_EQ(ds->input_shape(), (Shape{3, 32, 32}));
  EXPECT_EQ(ds->class_counts(), (std::vector<int64_t>{3, 4, 3}));
  const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
  for (int64_t i = 0; i < ds->size(); ++i) {
    Sample s = ds->get(i);
    ASSERT_EQ(s.image.shape(), (Shape{3, 32, 32}));
    const auto& rgb = t.colour[ds->class_names()[s.label]];
    bool grey = s.image.data<float>()[0] == (99 / 255.0f - mean[0]) / sd[0];
    for (int c = 0; c < 3; ++c) {
      float v = grey ? 99 : rgb[c];
      EXPECT_EQ(s.image.data<float>()[c * 1024 + 500], (v / 255.0f - mean[c]) / sd[c]) << i;
    }
  }
  o.split = "val";
  auto val = open_dataset("imagenet:" + t.root, o);
  ASSERT_EQ(val->size(), 3);
  EXPECT_EQ(val->num_classes(), 3);
  EXPECT_EQ(val->label(0), 2);  // v1 -> dog (sorted by path)
  EXPECT_EQ(val->label(1), 0);
  EXPECT_EQ(val->label(2), 1);
  Sample s = val->get(1);
  EXPECT_EQ(s.image.data<float>()[0], (10 / 255.0f - mean[0]) / sd[0]);
  // Integer labels.
  o.label_file = t.root + "/int_labels.txt";
  write_text(o.label_file, "v1.png 2\nv2.png 0\n");
  auto vi = open_dataset("imagenet:" + t.root, o);
  ASSERT_EQ(vi->size(), 2);
  EXPECT_EQ(vi->label(0), 2);
  // Bad label files name the line.
  write_text(o.label_file, "v1.png 2\nv2.png 7\n");
  EXPECT_ERROR_HAS(open_dataset("imagenet:" + t.root, o), "line 2", "label 7");
  write_text(o.label_file, "v1.png n03_dog\nmissing.png n01_bird\n");
  EXPECT_ERROR_HAS(open_dataset("imagenet:" + t.root, o), "line 2", "missing.png");
  write_text(o.label_file, "v1.png n09_fish\n");
  EXPECT_ERROR_HAS(open_dataset("imagenet:" + t.root, o), "line 1", "n09_fish");
  EXPECT_ERROR_HAS(open_dataset("imagenet:" + t.root + "/nope"), "not a directory");
}

TEST(ImageFolder, CorruptImageErrorsOrIsSkipped) {
  Tree t = make_tree();
  std::string bad = t.root + "/train/n02_cat/img0a_broken.JPEG";
  write_text(bad, "\xff\xd8\xff\xe0 this is not really a jpeg");
  auto ds = open_dataset("imagenet:" + t.root);
  int64_t bad_index = -1;
  for (int64_t i = 0; i < ds->size(); ++i) {
    std::string e = error_of([&] { ds->get(i); });
    if (!e.empty()) {
      EXPECT_NE(e.find("img0a_broken.JPEG"), std::string::npos) << e;
      bad_index = i;
    }
  }
  ASSERT_GE(bad_index, 0);
  DatasetOptions o;
  o.skip_corrupt = true;
  o.image_size = 16;
  auto skip = open_dataset("imagenet:" + t.root, o);
  ::testing::internal::CaptureStderr();
  Sample s = skip->get(bad_index);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("warning"), std::string::npos);
  EXPECT_NE(err.find("img0a_broken.JPEG"), std::string::npos) << err;
  EXPECT_EQ(s.image.shape(), (Shape{3, 16, 16}));
  Batch b = skip->get_batch(0, skip->size());
  EXPECT_EQ(b.images.dim(0), skip->size());
}

// ------------------------------------------------------------------ CSV

TEST(Csv, QuotesCrlfBomAndLineNumbers) {
  std::string p = gen_dir("csv") + "/a.csv";
  write_text(
      p,
      "\xEF\xBB\xBF"
      "a,b,c\r\n1,\"x,y\",\"he said \"\"hi\"\"\"\r\n\r\n2,\"multi\nline\",\r\n3,,\"\"\n4,5,6");
  CsvReader r(p);
  std::vector<std::string> f;
  ASSERT_TRUE(r.next(f));
  EXPECT_EQ(f, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(r.record_line(), 1);
  ASSERT_TRUE(r.next(f));
  EXPECT_EQ(f, (std::vector<std::string>{"1", "x,y", "he said \"hi\""}));
  EXPECT_EQ(r.record_line(), 2);
  ASSERT_TRUE(r.next(f));
  EXPECT_EQ(f, (std::vector<std::string>{"2", "multi\nline", ""}));
  EXPECT_EQ(r.record_line(), 4);
  uint64_t off3 = 0;
  ASSERT_TRUE(r.next(f));
  off3 = r.record_offset();
  EXPECT_EQ(f, (std::vector<std::string>{"3", "", ""}));
  EXPECT_EQ(r.record_line(), 6);
  ASSERT_TRUE(r.next(f));
  EXPECT_EQ(f, (std::vector<std::string>{"4", "5", "6"}));
  EXPECT_FALSE(r.next(f));
  // Restart at a record offset.
  CsvReader r2(p, off3, 6, 8);
  ASSERT_TRUE(r2.next(f));
  EXPECT_EQ(f, (std::vector<std::string>{"3", "", ""}));
  ASSERT_TRUE(r2.next(f));
  EXPECT_EQ(r2.record_line(), 7);
  // Errors.
  write_text(p, "a,b\n1,\"open\n2,3\n");
  CsvReader r3(p);
  r3.next(f);
  EXPECT_ERROR_HAS(r3.next(f), "line 2", "never closed");
  write_text(p, "a,b\n1,\"x\"y\n");
  CsvReader r4(p);
  r4.next(f);
  EXPECT_ERROR_HAS(r4.next(f), "line 2", "after a closing quote");
}

// ------------------------------------------------------------------ TON_IoT

const std::vector<std::string> kTrainTestHeader = {"src_ip",
                                                   "src_port",
                                                   "dst_ip",
                                                   "dst_port",
                                                   "proto",
                                                   "service",
                                                   "duration",
                                                   "src_bytes",
                                                   "dst_bytes",
                                                   "conn_state",
                                                   "missed_bytes",
                                                   "src_pkts",
                                                   "src_ip_bytes",
                                                   "dst_pkts",
                                                   "dst_ip_bytes",
                                                   "dns_query",
                                                   "dns_qclass",
                                                   "dns_qtype",
                                                   "dns_rcode",
                                                   "dns_AA",
                                                   "dns_RD",
                                                   "dns_RA",
                                                   "dns_rejected",
                                                   "ssl_version",
                                                   "ssl_cipher",
                                                   "ssl_resumed",
                                                   "ssl_established",
                                                   "ssl_subject",
                                                   "ssl_issuer",
                                                   "http_trans_depth",
                                                   "http_method",
                                                   "http_uri",
                                                   "http_version",
                                                   "http_request_body_len",
                                                   "http_response_body_len",
                                                   "http_status_code",
                                                   "http_user_agent",
                                                   "http_orig_mime_types",
                                                   "http_resp_mime_types",
                                                   "weird_name",
                                                   "weird_addl",
                                                   "weird_notice",
                                                   "label",
                                                   "type"};

std::vector<std::string> full_header() {
  std::vector<std::string> h = {"ts"};
  for (const auto& c : kTrainTestHeader) {
    h.push_back(c);
    if (c == "http_uri") h.push_back("http_referrer");
  }
  return h;
}

using Row = std::map<std::string, std::string>;

Row make_row(std::mt19937& rng, int i) {
  auto pick = [&](std::vector<std::string> v) { return v[rng() % v.size()]; };
  auto num = [&](int mx) { return std::to_string(rng() % mx); };
  const auto& types = ton_iot_types();
  std::string type = types[i % types.size()];
  Row r;
  r["ts"] = std::to_string(1554198358 + i);
  r["src_ip"] = "192.168.1." + num(50);
  r["src_port"] = num(65536);
  r["dst_ip"] = "10.0.0." + num(20);
  r["dst_port"] = pick({"80", "53", "443", "22"});
  r["proto"] = pick({"tcp", "udp", "icmp"});
  r["service"] = pick({"-", "dns", "http", "ssl"});
  r["duration"] = pick({"0", "-", "0.000214", "12.5", "290.8"});
  r["src_bytes"] = pick({num(100000), "-", "0"});
  r["dst_bytes"] = num(5000);
  r["conn_state"] = pick({"S0", "SF", "REJ", "OTH", "RSTR"});
  r["missed_bytes"] = "0";
  r["src_pkts"] = num(100);
  r["src_ip_bytes"] = num(9000);
  r["dst_pkts"] = num(80);
  r["dst_ip_bytes"] = num(70000);
  r["dns_query"] = pick({"-", "www.example.com", "api.test.org", "x,y.z"});
  r["dns_qclass"] = pick({"0", "1"});
  r["dns_qtype"] = pick({"0", "1", "28"});
  r["dns_rcode"] = pick({"0", "3"});
  for (const char* b :
       {"dns_AA", "dns_RD", "dns_RA", "dns_rejected", "ssl_resumed", "ssl_established"})
    r[b] = pick({"T", "F", "-"});
  r["ssl_version"] = pick({"-", "TLSv12", "TLSv13"});
  r["ssl_cipher"] = pick({"-", "TLS_AES_128_GCM_SHA256"});
  r["ssl_subject"] = pick({"-", "CN=foo,O=bar", "CN=\"quoted\" name"});
  r["ssl_issuer"] = pick({"-", "CN=ca"});
  r["http_trans_depth"] = pick({"-", "1", "2"});
  r["http_method"] = pick({"-", "GET", "POST"});
  r["http_uri"] = pick({"-", "/index.html", "/a?b=1,c=\"2\""});
  r["http_referrer"] = pick({"-", "http://x"});
  r["http_version"] = pick({"-", "1.1"});
  r["http_request_body_len"] = num(300);
  r["http_response_body_len"] = num(3000);
  r["http_status_code"] = pick({"0", "200", "404"});
  r["http_user_agent"] = pick({"-", "Mozilla/5.0 (X11, Linux)"});
  r["http_orig_mime_types"] = pick({"-", "text/html"});
  r["http_resp_mime_types"] = pick({"-", "text/html", "image/png"});
  r["weird_name"] = pick({"-", "bad_TCP_checksum", "DNS_RR_unknown_type"});
  r["weird_addl"] = pick({"-", "46"});
  r["weird_notice"] = pick({"F", "T"});
  r["label"] = type == "normal" ? "0" : "1";
  r["type"] = type;
  return r;
}

std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string q = "\"";
  for (char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

struct CsvStyle {
  bool full = false;  // Network_dataset column order (ts, http_referrer)
  bool bom = false;
  bool crlf = false;
  bool mixed_case = false;
};

std::string make_csv(const std::vector<Row>& rows, const CsvStyle& st) {
  std::vector<std::string> h = st.full ? full_header() : kTrainTestHeader;
  std::string nl = st.crlf ? "\r\n" : "\n";
  std::string s = st.bom ? "\xEF\xBB\xBF" : "";
  for (size_t i = 0; i < h.size(); ++i) {
    std::string name = h[i];
    if (st.mixed_case)
      for (size_t k = 0; k < name.size(); k += 2) name[k] = char(std::toupper(name[k]));
    s += (i ? "," : "") + name;
  }
  s += nl;
  for (const Row& r : rows) {
    for (size_t i = 0; i < h.size(); ++i) {
      if (i) s += ',';
      s += csv_field(r.at(h[i]));
    }
    s += nl;
  }
  return s;
}

std::vector<Row> make_rows(int n, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  std::vector<Row> rows;
  for (int i = 0; i < n; ++i) rows.push_back(make_row(rng, i));
  return rows;
}

std::string write_csv(const std::string& name, const std::string& text) {
  std::string p = gen_dir("ton_iot") + "/" + name;
  write_text(p, text);
  return p;
}

std::vector<std::vector<float>> encode_all(const std::string& path, const FeatureEncoder& enc) {
  TonIotReader r(path, &enc);
  TonIotRow row;
  std::vector<std::vector<float>> out;
  while (r.next(row)) out.push_back(row.features);
  return out;
}

TEST(TonIot, BothColumnOrdersAndCsvQuirksEncodeAlike) {
  std::vector<Row> rows = make_rows(300);
  std::string a = write_csv("tt.csv", make_csv(rows, {}));
  std::string b = write_csv("full.csv", make_csv(rows, {true, true, true, true}));
  for (int64_t side : {8, 16}) {
    FeatureEncoderOptions o;
    o.side = side;
    FeatureEncoder ea = FeatureEncoder::fit(a, o);
    FeatureEncoder eb = FeatureEncoder::fit(b, o);
    EXPECT_EQ(ea.to_string(), eb.to_string()) << side;
    auto va = encode_all(a, ea), vb = encode_all(b, ea);
    ASSERT_EQ(va.size(), rows.size());
    EXPECT_EQ(va, vb) << side;
    EXPECT_EQ(ea.num_slots(), side * side);
    EXPECT_LE(ea.num_features(), side * side);
  }
}

// Slot offset of a column in an encoder.
const EncodedColumn& column(const FeatureEncoder& e, const std::string& name) {
  for (const auto& c : e.columns())
    if (c.name == name) return c;
  throw Error("no column " + name);
}

TEST(TonIot, NumericEncodingMissingValuesAndTrainOnlyStatistics) {
  std::vector<Row> rows = make_rows(400, 7);
  std::string p = write_csv("num.csv", make_csv(rows, {}));
  FeatureEncoderOptions o;
  FeatureEncoder e = FeatureEncoder::fit(p, o);
  // Independent statistics of log1p(src_bytes) over the train rows.
  double sum = 0, sq = 0;
  int n = 0, train_rows = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!ton_iot_in_train(i, o.train_ratio, o.split_seed)) continue;
    ++train_rows;
    if (rows[i]["src_bytes"] == "-") continue;
    double t = std::log1p(std::stod(rows[i]["src_bytes"]));
    sum += t, sq += t * t, ++n;
  }
  EXPECT_GT(train_rows, 280);
  EXPECT_LT(train_rows, 360);
  EXPECT_EQ(e.fitted_rows(), train_rows);
  double mean = sum / n, sd = std::sqrt(sq / n - mean * mean);
  const EncodedColumn& c = column(e, "src_bytes");
  EXPECT_NEAR(c.mean, mean, 1e-9);
  EXPECT_NEAR(c.std, sd, 1e-6);
  auto enc = encode_all(p, e);
  for (size_t i = 0; i < rows.size(); ++i) {
    float v = enc[i][c.offset];
    if (rows[i]["src_bytes"] == "-")
      EXPECT_EQ(v, 0.0f);
    else
      EXPECT_NEAR(v, (std::log1p(std::stod(rows[i]["src_bytes"])) - mean) / sd, 1e-4);
  }
  // Side 16: the missing flag.
  o.side = 16;
  FeatureEncoder e16 = FeatureEncoder::fit(p, o);
  const EncodedColumn& c16 = column(e16, "src_bytes");
  auto enc16 = encode_all(p, e16);
  for (size_t i = 0; i < rows.size(); ++i)
    EXPECT_EQ(enc16[i][c16.offset + 1], rows[i]["src_bytes"] == "-" ? 1.0f : 0.0f);
  // An extreme value in a test-split row leaves the fitted statistics alone...
  size_t test_row = 0, train_row = 0;
  while (ton_iot_in_train(test_row, 0.8, o.split_seed)) ++test_row;
  while (!ton_iot_in_train(train_row, 0.8, o.split_seed)) ++train_row;
  std::vector<Row> mod = rows;
  mod[test_row]["src_bytes"] = "1e15";
  mod[test_row]["proto"] = "never_seen";
  std::string pm = write_csv("num_mod.csv", make_csv(mod, {}));
  EXPECT_EQ(FeatureEncoder::fit(pm, {}).to_string(), e.to_string());
  // ... while the same value in a train row changes them.
  mod = rows;
  mod[train_row]["src_bytes"] = "1e15";
  std::string pt = write_csv("num_mod_train.csv", make_csv(mod, {}));
  EXPECT_NE(FeatureEncoder::fit(pt, {}).to_string(), e.to_string());
}

TEST(TonIot, EncoderRoundTripThroughString) {
  std::vector<Row> rows = make_rows(250, 3);
  rows[0]["service"] = "we|ird %val=ue";  // needs escaping
  rows[1]["service"] = "we|ird %val=ue";
  rows[2]["service"] = "we|ird %val=ue";
  std::string p = write_csv("rt.csv", make_csv(rows, {}));
  for (int64_t side : {8, 16}) {
    for (bool ids : {false, true}) {
      FeatureEncoderOptions o;
      o.side = side;
      o.include_identifiers = ids;
      FeatureEncoder e = FeatureEncoder::fit(p, o);
      std::string s = e.to_string();
      FeatureEncoder back = FeatureEncoder::from_string(s);
      EXPECT_EQ(back.to_string(), s);
      EXPECT_EQ(encode_all(p, e), encode_all(p, back)) << side << ids;
      if (ids)
        EXPECT_NO_THROW(column(e, "src_ip"));
      else
        EXPECT_THROW(column(e, "src_ip"), Error);
    }
  }
  FeatureEncoder e = FeatureEncoder::fit(p, {});
  bool found = false;
  for (const auto& v : column(e, "service").vocab) found |= v == "we|ird %val=ue";
  EXPECT_TRUE(found);
  std::string s = e.to_string();
  EXPECT_ERROR_HAS(FeatureEncoder::from_string(s.substr(0, s.size() / 2)), "encoder");
  EXPECT_ERROR_HAS(FeatureEncoder::from_string("hello"), "line 1");
  std::string bad = s;
  bad.replace(bad.find("side=8"), 6, "side=9");
  EXPECT_ERROR_HAS(FeatureEncoder::from_string(bad), "side");
}

TEST(TonIot, RefusesBadFilesWithLineNumbers) {
  std::vector<Row> rows = make_rows(20, 5);
  std::string good = make_csv(rows, {});
  // Missing columns, named.
  std::string no_cols = good;
  no_cols.replace(no_cols.find("dns_query"), 9, "dns_querx");
  no_cols.replace(no_cols.find("weird_name"), 10, "weird_namx");
  std::string p = write_csv("bad_cols.csv", no_cols);
  EXPECT_ERROR_HAS(FeatureEncoder::fit(p, {}), "missing required columns", "dns_query",
                   "weird_name", "bad_cols.csv");
  // Wrong field count on line 5 (header is line 1).
  std::vector<Row> r2 = rows;
  std::string t = make_csv(r2, {});
  size_t line5 = 0;
  for (int k = 0; k < 4; ++k) line5 = t.find('\n', line5) + 1;
  size_t comma = t.find(',', line5);
  t.erase(comma, 1);
  p = write_csv("bad_count.csv", t);
  EXPECT_ERROR_HAS(FeatureEncoder::fit(p, {}), "line 5", "expected 44 fields, got 43");
  // Unknown type on line 3, label outside {0,1} on line 4.
  r2 = rows;
  r2[1]["type"] = "foo";
  p = write_csv("bad_type.csv", make_csv(r2, {}));
  EXPECT_ERROR_HAS(FeatureEncoder::fit(p, {}), "line 3", "unknown type 'foo'");
  r2 = rows;
  r2[2]["label"] = "2";
  p = write_csv("bad_label.csv", make_csv(r2, {}));
  EXPECT_ERROR_HAS(FeatureEncoder::fit(p, {}), "line 4", "label '2'");
  // Upper-case type names are accepted.
  r2 = rows;
  r2[3]["type"] = "DDoS";
  p = write_csv("case_type.csv", make_csv(r2, {}));
  EXPECT_NO_THROW(FeatureEncoder::fit(p, {}));
  // Non-numeric value in a numeric column, in every row position (train or test).
  for (int k : {0, 1, 2, 3, 4, 5}) {
    r2 = rows;
    r2[k]["dst_bytes"] = "12abc";
    p = write_csv("bad_num.csv", make_csv(r2, {}));
    std::string line = "line " + std::to_string(k + 2);
    std::string e = error_of([&] {
      FeatureEncoder enc = FeatureEncoder::fit(p, {});
      encode_all(p, enc);
    });
    EXPECT_NE(e.find(line), std::string::npos) << e;
    EXPECT_NE(e.find("dst_bytes"), std::string::npos) << e;
    EXPECT_NE(e.find("'12abc' is not a number"), std::string::npos) << e;
    // The data set refuses it at open time.
    EXPECT_ERROR_HAS(open_dataset("ton-iot:" + p), line.c_str(), "dst_bytes");
  }
  p = write_csv("empty.csv", "");
  EXPECT_ERROR_HAS(FeatureEncoder::fit(p, {}), "empty");
  EXPECT_ERROR_HAS(FeatureEncoder::fit(gen_dir("ton_iot") + "/missing.csv", {}), "missing.csv");
}

TEST(TonIot, DatasetSplitsAndTargets) {
  std::vector<Row> rows = make_rows(500, 11);
  std::string p = write_csv("ds.csv", make_csv(rows, {false, true, true, false}));
  DatasetOptions o;
  auto train = open_dataset("ton-iot:" + p, o);
  o.split = "test";
  auto test = open_dataset("ton-iot:" + p, o);
  EXPECT_EQ(train->size() + test->size(), 500);
  EXPECT_EQ(train->input_shape(), (Shape{1, 8, 8}));
  EXPECT_EQ(train->num_classes(), 2);
  // Labels follow the file.
  int64_t k = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!ton_iot_in_train(i, 0.8, o.split_seed)) continue;
    ASSERT_EQ(train->label(k), rows[i]["label"] == "1" ? 1 : 0) << i;
    ++k;
  }
  EXPECT_EQ(k, train->size());
  // get() encodes like the streaming reader with the same encoder.
  FeatureEncoder enc = FeatureEncoder::from_string(train->encoder_string());
  TonIotReader reader(p, &enc, TonIotReader::Split::Test);
  TonIotRow row;
  for (int64_t i = 0; i < test->size(); ++i) {
    ASSERT_TRUE(reader.next(row));
    Sample s = test->get(i);
    ASSERT_EQ(s.image.shape(), (Shape{1, 8, 8}));
    ASSERT_EQ(std::vector<float>(s.image.data<float>(), s.image.data<float>() + 64), row.features)
        << i;
    EXPECT_EQ(s.label, row.label);
  }
  EXPECT_FALSE(reader.next(row));
  // 10-class target and a stored encoder; 16x16 with identifiers.
  o.target = "type";
  o.encoder = train->encoder_string();
  auto typed = open_dataset("ton-iot:" + p, o);
  EXPECT_EQ(typed->num_classes(), 10);
  EXPECT_EQ(typed->class_names()[9], "xss");
  int64_t total = 0;
  for (int64_t c : typed->class_counts()) total += c;
  EXPECT_EQ(total, typed->size());
  DatasetOptions w;
  w.tabular_side = 16;
  w.include_identifiers = true;
  auto wide = open_dataset("ton-iot:" + p, w);
  EXPECT_EQ(wide->input_shape(), (Shape{1, 16, 16}));
  Batch b = wide->get_batch(0, 4);
  EXPECT_EQ(b.images.shape(), (Shape{4, 1, 16, 16}));
  w.tabular_side = 12;
  EXPECT_ERROR_HAS(open_dataset("ton-iot:" + p, w), "side");
}

TEST(DataCli, SummariesAndErrors) {
  std::vector<Row> rows = make_rows(60, 13);
  std::string p = write_csv("cli.csv", make_csv(rows, {}));
  std::string enc_path = gen_dir("ton_iot") + "/cli.encoder";
  std::string spec = "ton-iot:" + p;
  std::vector<std::string> args = {"teesplit", "data",           spec,    "--head",
                                   "2",        "--save-encoder", enc_path};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  ::testing::internal::CaptureStdout();
  int rc = cli_main(int(argv.size()), argv.data());
  std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("rows: "), std::string::npos) << out;
  EXPECT_NE(out.find("input shape (C,H,W): [1,8,8]"), std::string::npos) << out;
  EXPECT_NE(out.find("feature layout"), std::string::npos) << out;
  EXPECT_NE(out.find("[1] label"), std::string::npos) << out;
  const std::string saved = read_file(enc_path);
  EXPECT_NO_THROW(FeatureEncoder::from_string(saved));

  Tree t = make_tree();
  args = {"teesplit", "data", "imagenet:" + t.root, "--head", "1", "--size", "24"};
  argv.clear();
  for (auto& a : args) argv.push_back(a.data());
  ::testing::internal::CaptureStdout();
  rc = cli_main(int(argv.size()), argv.data());
  out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("[3,24,24]"), std::string::npos) << out;
  EXPECT_NE(out.find("n02_cat: 4"), std::string::npos) << out;

  for (std::vector<std::string> bad : {std::vector<std::string>{"teesplit", "data"},
                                       {"teesplit", "data", "ton-iot:" + p, "--head"},
                                       {"teesplit", "data", "nonsense:x"},
                                       {"teesplit", "data", "ton-iot:/nonexistent.csv"}}) {
    argv.clear();
    for (auto& a : bad) argv.push_back(a.data());
    ::testing::internal::CaptureStderr();
    rc = cli_main(int(argv.size()), argv.data());
    std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_NE(rc, 0);
    EXPECT_NE(err.find("teesplit data:"), std::string::npos) << err;
  }
}

}  // namespace
}  // namespace teesplit
