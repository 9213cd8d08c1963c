// Tests for src/io: .npy reading/writing and image decoding, resizing, preprocessing.
// Independent references: NumPy, PIL and torch from /usr/bin/python3 (required oracles:
// skipped when absent, a failure under CI=true) and pixel patterns computed in the test.
#include <gtest/gtest.h>

// clang-format off
#include <cstdio>
#include <jpeglib.h>
// clang-format on

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/file.h"
#include "io/image.h"
#include "io/npy.h"
#include "support/test_support.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;

std::string gen_path(const std::string& name) {
  fs::path d = fs::path(testing::generated_dir()) / "io";
  fs::create_directories(d);
  return (d / name).string();
}

// Runs a python script with /usr/bin/python3; returns the exit status (-1 if absent).
int run_python(const std::string& name, const std::string& script) {
  if (!fs::exists("/usr/bin/python3")) return -1;
  std::string path = gen_path(name + ".py");
  std::ofstream(path) << script;
  std::string cmd = "/usr/bin/python3 " + path + " > " + gen_path(name + ".log") + " 2>&1";
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

bool have_python_module(const std::string& mod) {
  return run_python("probe_" + mod, "import " + mod + "\n") == 0;
}

using testing::error_of;

// ------------------------------------------------------------------ npy

TEST(Npy, RoundTripAllDtypes) {
  std::vector<Tensor> ts = {
      testing::random_tensor({3, 4, 5}, 1),
      Tensor::from<int64_t>({4}, {-1, 0, 1LL << 40, 7}),
      Tensor::from<int32_t>({2, 2}, {-5, 6, 7, 1 << 30}),
      Tensor::from<uint8_t>({3}, {0, 128, 255}),
      Tensor::from<bool>({2, 1}, {true, false}),
      Tensor::scalar_f32(3.5f),
      Tensor(DType::F32, {0, 3}),
  };
  for (size_t i = 0; i < ts.size(); ++i) {
    std::string p = gen_path("rt" + std::to_string(i) + ".npy");
    write_npy(p, ts[i]);
    Tensor r = read_npy(p);
    ASSERT_EQ(r.dtype(), ts[i].dtype()) << i;
    ASSERT_EQ(r.shape(), ts[i].shape()) << i;
    ASSERT_EQ(std::memcmp(r.raw(), ts[i].raw(), ts[i].nbytes()), 0) << i;
    // Header is 64-byte aligned as NumPy writes it.
    const std::string b = read_file(p);
    EXPECT_EQ((b.size() - ts[i].nbytes()) % 64, 0u) << i;
  }
}

TEST(Npy, ReadsNumpyFilesAndNumpyReadsOurs) {
  TS_REQUIRE_ORACLE(have_python_module("numpy"), "/usr/bin/python3 cannot import numpy");
  std::string d = gen_path("");
  std::string script = "import numpy as np\nd='" + d + "'\n" + R"PY(
a = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7
np.save(d + 'np_f4.npy', a)
np.save(d + 'np_f8.npy', np.linspace(-1, 1, 10).reshape(5, 2))
np.save(d + 'np_i8.npy', np.array([[-3, 2**40], [5, 6]], dtype=np.int64))
np.save(d + 'np_i4.npy', np.array([-7, 8, 9], dtype=np.int32))
np.save(d + 'np_u1.npy', np.array([0, 200, 255], dtype=np.uint8))
np.save(d + 'np_b1.npy', np.array([True, False, True]))
np.save(d + 'np_scalar.npy', np.float32(2.25))
np.save(d + 'np_empty.npy', np.zeros((0, 4), np.float32))
np.save(d + 'np_fortran.npy', np.asfortranarray(np.ones((3, 2), np.float32)))
np.save(d + 'np_be.npy', np.ones(3, dtype='>f4'))
with open(d + 'np_v2.npy', 'wb') as f:
    np.lib.format.write_array(f, a, version=(2, 0))
with open(d + 'np_v3.npy', 'wb') as f:
    np.lib.format.write_array(f, a, version=(3, 0))
)PY";
  ASSERT_EQ(run_python("np_write", script), 0) << "see " << gen_path("np_write.log");

  Tensor f4 = read_npy(d + "np_f4.npy");
  ASSERT_EQ(f4.shape(), (Shape{2, 3, 4}));
  for (int i = 0; i < 24; ++i) EXPECT_EQ(f4.data<float>()[i], float(i) / 7.0f) << i;
  for (const char* v : {"np_v2.npy", "np_v3.npy"}) {
    Tensor t = read_npy(d + v);
    ASSERT_EQ(t.shape(), (Shape{2, 3, 4})) << v;
    EXPECT_EQ(std::memcmp(t.raw(), f4.raw(), f4.nbytes()), 0) << v;
  }
  Tensor f8 = read_npy(d + "np_f8.npy");
  ASSERT_EQ(f8.dtype(), DType::F32);
  ASSERT_EQ(f8.shape(), (Shape{5, 2}));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(f8.data<float>()[i], float(-1.0 + 2.0 * i / 9.0)) << i;
  Tensor i8 = read_npy(d + "np_i8.npy");
  ASSERT_EQ(i8.dtype(), DType::I64);
  EXPECT_EQ(i8.data<int64_t>()[1], 1LL << 40);
  EXPECT_EQ(i8.data<int64_t>()[0], -3);
  Tensor i4 = read_npy(d + "np_i4.npy");
  ASSERT_EQ(i4.dtype(), DType::I32);
  EXPECT_EQ(i4.data<int32_t>()[0], -7);
  Tensor u1 = read_npy(d + "np_u1.npy");
  ASSERT_EQ(u1.dtype(), DType::U8);
  EXPECT_EQ(u1.data<uint8_t>()[1], 200);
  Tensor b1 = read_npy(d + "np_b1.npy");
  ASSERT_EQ(b1.dtype(), DType::Bool);
  EXPECT_EQ(b1.as_int(0), 1);
  EXPECT_EQ(b1.as_int(1), 0);
  Tensor sc = read_npy(d + "np_scalar.npy");
  EXPECT_EQ(sc.shape(), Shape{});
  EXPECT_EQ(sc.data<float>()[0], 2.25f);
  Tensor em = read_npy(d + "np_empty.npy");
  EXPECT_EQ(em.shape(), (Shape{0, 4}));

  std::string fe = error_of([&] { read_npy(d + "np_fortran.npy"); });
  EXPECT_NE(fe.find("fortran_order"), std::string::npos) << fe;
  EXPECT_NE(fe.find("np_fortran.npy"), std::string::npos) << fe;
  std::string be = error_of([&] { read_npy(d + "np_be.npy"); });
  EXPECT_NE(be.find(">f4"), std::string::npos) << be;

  // NumPy reads what we write.
  Tensor ours = testing::random_tensor({4, 3}, 7);
  write_npy(d + "ours_f4.npy", ours);
  write_npy(d + "ours_expected.npy", Tensor::from<float>({1}, {ours.data<float>()[5]}));
  write_npy(d + "ours_i8.npy", Tensor::from<int64_t>({2}, {-9, 1LL << 50}));
  std::string check = "import numpy as np\nd='" + d + "'\n" + R"PY(
a = np.load(d + 'ours_f4.npy')
assert a.dtype == np.float32 and a.shape == (4, 3), (a.dtype, a.shape)
assert a.reshape(-1)[5] == np.load(d + 'ours_expected.npy')[0]
b = np.load(d + 'ours_i8.npy')
assert b.dtype == np.int64 and list(b) == [-9, 2**50]
)PY";
  EXPECT_EQ(run_python("np_read", check), 0) << "see " << gen_path("np_read.log");
}

std::vector<uint8_t> npy_bytes(int major, const std::string& header, size_t payload) {
  std::vector<uint8_t> b = {0x93, 'N', 'U', 'M', 'P', 'Y', uint8_t(major), 0};
  size_t hl = header.size();
  b.push_back(hl & 0xff);
  b.push_back((hl >> 8) & 0xff);
  if (major >= 2) {
    b.push_back((hl >> 16) & 0xff);
    b.push_back((hl >> 24) & 0xff);
  }
  b.insert(b.end(), header.begin(), header.end());
  b.resize(b.size() + payload, 0);
  return b;
}

TEST(Npy, RejectsMalformedFiles) {
  const std::string good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";
  EXPECT_NO_THROW(parse_npy(npy_bytes(1, good, 24)));
  EXPECT_NO_THROW(parse_npy(npy_bytes(2, good, 24)));
  struct Case {
    std::vector<uint8_t> bytes;
    const char* expect;
  };
  std::vector<Case> cases = {
      {npy_bytes(1, good, 20), "truncated"},
      {npy_bytes(1, good, 28), "bytes after the data"},
      {npy_bytes(4, good, 24), "version"},
      {npy_bytes(1, "{'descr': '<f4', 'shape': (2, 3), }\n", 24), "fortran_order"},
      {npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }\n", 24), "shape"},
      {npy_bytes(1, "{'descr': '<f4', 'fortran_order': Nope, 'shape': (6,), }\n", 24),
       "True or False"},
      {npy_bytes(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }\n", 24), "<c8"},
      {npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6), }\n", 24), "comma"},
      {npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}\n", 24),
       "key"},
      {npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} junk\n", 24), "after"},
      {npy_bytes(1,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, "
                 "9999999), }\n",
                 0),
       "too large"},
      {npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), ", 0), "expected"},
      {{0x93, 'N', 'U', 'M'}, "truncated"},
      {{'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0, 0}, "magic"},
  };
  // Header length pointing past the end of the file.
  std::vector<uint8_t> longhdr = npy_bytes(1, good, 0);
  longhdr[8] = 0xff;
  longhdr[9] = 0x7f;
  cases.push_back({longhdr, "header"});
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string e = error_of([&] { parse_npy(cases[i].bytes, "case.npy"); });
    ASSERT_FALSE(e.empty()) << "case " << i << " was accepted";
    EXPECT_NE(e.find(cases[i].expect), std::string::npos) << "case " << i << ": " << e;
    EXPECT_NE(e.find("case.npy"), std::string::npos) << e;
    EXPECT_NE(e.find("byte offset"), std::string::npos) << e;
  }
  // Every prefix of a valid file is refused, never crashes.
  std::vector<uint8_t> full = serialize_npy(testing::random_tensor({3, 3}, 3));
  for (size_t n = 0; n < full.size(); ++n)
    EXPECT_THROW(parse_npy(full.data(), n), Error) << "prefix " << n;
  EXPECT_THROW(read_npy(gen_path("does_not_exist.npy")), Error);
}

// ------------------------------------------------------------------ images

Image pattern_image(int w, int h, int c, int seed = 0) {
  Image img;
  img.width = w;
  img.height = h;
  img.channels = c;
  img.data.resize(size_t(w) * h * c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) img.at(y, x, k) = uint8_t((x * 7 + y * 13 + k * 71 + seed) % 256);
  return img;
}

// Smooth image (JPEG-friendly).
Image smooth_image(int w, int h, int c) {
  Image img;
  img.width = w;
  img.height = h;
  img.channels = c;
  img.data.resize(size_t(w) * h * c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        img.at(y, x, k) = uint8_t(128 + 100 * std::sin(0.05 * x + 0.03 * y + k));
  return img;
}

std::vector<uint8_t> encode_jpeg_for_test(const Image& img, int quality) {
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = img.width;
  c.image_height = img.height;
  c.input_components = img.channels;
  c.in_color_space = img.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row =
        const_cast<JSAMPROW>(&img.data[size_t(c.next_scanline) * img.width * img.channels]);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::vector<uint8_t> out(buf, buf + size);
  std::free(buf);
  return out;
}

TEST(Image, PngRoundTripAllChannelCounts) {
  for (int c = 1; c <= 4; ++c) {
    Image img = pattern_image(37, 23, c, c);
    std::string p = gen_path("rt" + std::to_string(c) + ".png");
    write_png(p, img);
    Image r = decode_image(p);
    EXPECT_EQ(r.width, 37);
    EXPECT_EQ(r.height, 23);
    EXPECT_EQ(r.channels, c);
    EXPECT_EQ(r.data, img.data) << c;
  }
}

TEST(Image, PngFormatsWrittenByPil) {
  TS_REQUIRE_ORACLE(have_python_module("PIL") && have_python_module("numpy"),
                    "/usr/bin/python3 cannot import PIL or numpy (python3-pil, python3-numpy)");
  std::string d = gen_path("");
  std::string script = "import numpy as np\nfrom PIL import Image\nd='" + d + "'\n" + R"PY(
y, x = np.mgrid[0:19, 0:31]
rgb = np.stack([(x * 8) % 256, (y * 13) % 256, (x + y) % 256], -1).astype(np.uint8)
Image.fromarray(rgb).save(d + 'pil_rgb.png'); np.save(d + 'pil_rgb.npy', rgb)
g16 = ((x * 2113 + y * 977) % 65536).astype(np.uint16)
Image.fromarray(g16).save(d + 'pil_g16.png'); np.save(d + 'pil_g16.npy', g16.astype(np.int64))
bw = ((x + y) % 3 == 0)
Image.fromarray(bw).save(d + 'pil_1bit.png'); np.save(d + 'pil_1bit.npy', bw.astype(np.uint8) * 255)
pal = Image.fromarray(rgb).convert('P', palette=Image.ADAPTIVE, colors=16)
pal.save(d + 'pil_pal.png'); np.save(d + 'pil_pal.npy', np.asarray(pal.convert('RGB')))
pal.save(d + 'pil_palt.png', transparency=3)
np.save(d + 'pil_palt.npy', np.asarray(Image.open(d + 'pil_palt.png').convert('RGBA')))
la = np.stack([(x * 8) % 256, (y * 9) % 256], -1).astype(np.uint8)
Image.fromarray(la, 'LA').save(d + 'pil_la.png'); np.save(d + 'pil_la.npy', la)
Image.fromarray(rgb).save(d + 'pil_interlaced.png', interlace=1)
)PY";
  ASSERT_EQ(run_python("pil_png", script), 0) << "see " << gen_path("pil_png.log");
  auto expect_same = [&](const std::string& png, const std::string& npy, int channels) {
    Image img = decode_image(d + png);
    Tensor ref = read_npy(d + npy);
    ASSERT_EQ(img.width, 31) << png;
    ASSERT_EQ(img.height, 19) << png;
    ASSERT_EQ(img.channels, channels) << png;
    ASSERT_EQ(int64_t(img.data.size()), ref.numel()) << png;
    for (int64_t i = 0; i < ref.numel(); ++i)
      ASSERT_EQ(img.data[i], ref.as_int(i)) << png << " byte " << i;
  };
  expect_same("pil_rgb.png", "pil_rgb.npy", 3);
  expect_same("pil_interlaced.png", "pil_rgb.npy", 3);
  expect_same("pil_1bit.png", "pil_1bit.npy", 1);
  expect_same("pil_pal.png", "pil_pal.npy", 3);
  expect_same("pil_palt.png", "pil_palt.npy", 4);
  expect_same("pil_la.png", "pil_la.npy", 2);
  // 16-bit: round(v * 255 / 65535), computed here.
  Image g = decode_image(d + "pil_g16.png");
  Tensor g16 = read_npy(d + "pil_g16.npy");
  ASSERT_EQ(g.channels, 1);
  for (int64_t i = 0; i < g16.numel(); ++i)
    ASSERT_EQ(g.data[i], std::lround(g16.as_int(i) * 255.0 / 65535.0)) << i;
  // PIL reads what write_png wrote.
  Image ours = pattern_image(11, 7, 3);
  write_png(d + "ours.png", ours);
  write_npy(d + "ours_px.npy", Tensor::from<uint8_t>({7, 11, 3}, ours.data));
  std::string check = "import numpy as np\nfrom PIL import Image\nd='" + d + "'\n" +
                      "assert (np.asarray(Image.open(d + 'ours.png')) == np.load(d + "
                      "'ours_px.npy')).all()\n";
  EXPECT_EQ(run_python("pil_read", check), 0);
}

TEST(Image, JpegDecodesWithinTolerance) {
  for (int c : {1, 3}) {
    Image img = smooth_image(64, 48, c);
    std::vector<uint8_t> jpg = encode_jpeg_for_test(img, 95);
    std::string p = gen_path("smooth" + std::to_string(c) + ".jpg.bin");  // no telling extension
    write_file(p, jpg.data(), jpg.size());
    Image r = decode_image(p);
    ASSERT_EQ(r.width, 64);
    ASSERT_EQ(r.height, 48);
    ASSERT_EQ(r.channels, c);
    double sum = 0;
    int maxd = 0;
    for (size_t i = 0; i < img.data.size(); ++i) {
      int dd = std::abs(int(r.data[i]) - int(img.data[i]));
      maxd = std::max(maxd, dd);
      sum += dd;
    }
    EXPECT_LE(maxd, 12) << c;
    EXPECT_LE(sum / img.data.size(), 2.0) << c;
  }
}

TEST(Image, JpegMatchesPilExactly) {
  TS_REQUIRE_ORACLE(have_python_module("PIL") && have_python_module("numpy"),
                    "/usr/bin/python3 cannot import PIL or numpy (python3-pil, python3-numpy)");
  std::string d = gen_path("");
  std::string script = "import numpy as np\nfrom PIL import Image\nd='" + d + "'\n" + R"PY(
y, x = np.mgrid[0:40, 0:57]
rgb = np.stack([(x * 4) % 256, (y * 6) % 256, (x * y) % 256], -1).astype(np.uint8)
Image.fromarray(rgb).save(d + 'pil.jpg', quality=80)
np.save(d + 'pil_jpg.npy', np.asarray(Image.open(d + 'pil.jpg')))
Image.fromarray(rgb).convert('L').save(d + 'pil_grey.jpg', quality=80)
np.save(d + 'pil_grey_jpg.npy', np.asarray(Image.open(d + 'pil_grey.jpg')))
Image.fromarray(rgb).convert('CMYK').save(d + 'pil_cmyk.jpg', quality=95)
)PY";
  ASSERT_EQ(run_python("pil_jpg", script), 0) << "see " << gen_path("pil_jpg.log");
  for (auto [jpg, npy] :
       {std::pair{"pil.jpg", "pil_jpg.npy"}, {"pil_grey.jpg", "pil_grey_jpg.npy"}}) {
    Image img = decode_image(d + jpg);
    Tensor ref = read_npy(d + npy);
    ASSERT_EQ(int64_t(img.data.size()), ref.numel()) << jpg;
    int maxd = 0;
    for (int64_t i = 0; i < ref.numel(); ++i)
      maxd = std::max<int>(maxd, std::abs(int(img.data[i]) - int(ref.as_int(i))));
    EXPECT_LE(maxd, 1) << jpg;  // same libjpeg-turbo: expected identical
  }
  Image cmyk = decode_image(d + "pil_cmyk.jpg");
  EXPECT_EQ(cmyk.channels, 3);
  EXPECT_EQ(cmyk.width, 57);
}

TEST(Image, CorruptFilesThrow) {
  Image img = smooth_image(40, 30, 3);
  std::vector<uint8_t> jpg = encode_jpeg_for_test(img, 90);
  std::vector<uint8_t> png = encode_png(img);
  // Truncated JPEG (premature end of data) and a JPEG with garbage after the SOI.
  std::vector<uint8_t> tj(jpg.begin(), jpg.begin() + jpg.size() / 2);
  std::string e = error_of([&] { decode_image(tj.data(), tj.size(), "half.jpg"); });
  EXPECT_NE(e.find("half.jpg"), std::string::npos) << e;
  std::vector<uint8_t> gj = {0xff, 0xd8, 0xff};
  for (int i = 0; i < 200; ++i) gj.push_back(uint8_t(i * 37));
  EXPECT_THROW(decode_image(gj.data(), gj.size(), "garbage.jpg"), Error);
  // Every prefix of the PNG, a flipped byte in IDAT, random bytes.
  for (size_t n = 0; n < png.size(); n += 7)
    EXPECT_THROW(decode_image(png.data(), n, "trunc.png"), Error) << n;
  std::vector<uint8_t> bad = png;
  bad[bad.size() / 2] ^= 0x55;
  EXPECT_THROW(decode_png(bad.data(), bad.size(), "crc.png"), Error);
  std::vector<uint8_t> rnd(500);
  std::mt19937 rng(4);
  for (auto& b : rnd) b = uint8_t(rng());
  e = error_of([&] { decode_image(rnd.data(), rnd.size(), "random.bin"); });
  EXPECT_NE(e.find("not a PNG or JPEG"), std::string::npos) << e;
  // Corrupt JPEG bodies (bytes flipped after the headers): error or a decoded image, never a crash.
  for (int k = 0; k < 20; ++k) {
    std::vector<uint8_t> cj = jpg;
    for (int j = 0; j < 30; ++j) cj[300 + rng() % (cj.size() - 300)] = uint8_t(rng());
    try {
      decode_image(cj.data(), cj.size(), "flipped.jpg");
    } catch (const Error&) {
    }
  }
  // Truncated files on disk name the file.
  std::string p = gen_path("truncated.png");
  write_file(p, png.data(), png.size() - 20);
  e = error_of([&] { decode_image(p); });
  EXPECT_NE(e.find("truncated.png"), std::string::npos) << e;
}

TEST(Image, PreprocessConstantColour) {
  const uint8_t rgb[3] = {200, 30, 117};
  Image img;
  img.width = 300;
  img.height = 257;
  img.channels = 3;
  img.data.resize(size_t(300) * 257 * 3);
  for (size_t i = 0; i < img.data.size(); ++i) img.data[i] = rgb[i % 3];
  const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
  Tensor t = imagenet_preprocess(img);
  ASSERT_EQ(t.shape(), (Shape{1, 3, 224, 224}));
  for (int c = 0; c < 3; ++c) {
    float want = (float(rgb[c]) / 255.0f - mean[c]) / sd[c];
    for (int i = 0; i < 224 * 224; ++i) ASSERT_EQ(t.data<float>()[c * 224 * 224 + i], want) << c;
  }
  // Grey is replicated to three channels; other sizes work.
  Image g;
  g.width = 50;
  g.height = 80;
  g.channels = 1;
  g.data.assign(50 * 80, 77);
  Tensor tg = imagenet_preprocess(g, 64, 56);
  ASSERT_EQ(tg.shape(), (Shape{1, 3, 56, 56}));
  for (int c = 0; c < 3; ++c)
    EXPECT_EQ(tg.data<float>()[c * 56 * 56 + 100], (77.0f / 255.0f - mean[c]) / sd[c]);
  Tensor tb = imagenet_preprocess_batch({img, g});
  ASSERT_EQ(tb.shape(), (Shape{2, 3, 224, 224}));
  EXPECT_EQ(tb.data<float>()[3 * 224 * 224 + 5], (77.0f / 255.0f - mean[0]) / sd[0]);
  // One channel output.
  Tensor t1 = imagenet_preprocess(img, 256, 224, {0.5f}, {0.25f}, 1);
  ASSERT_EQ(t1.shape(), (Shape{1, 1, 224, 224}));
  int luma = (200 * 299 + 30 * 587 + 117 * 114 + 500) / 1000;
  EXPECT_EQ(t1.data<float>()[7], (float(luma) / 255.0f - 0.5f) / 0.25f);
  EXPECT_THROW(imagenet_preprocess(img, 256, 224, {0.5f, 0.5f}, {1.f, 1.f}, 3), Error);
}

TEST(Image, CropAndResizeGeometry) {
  int w, h;
  resized_shorter_dims(500, 375, 256, &w, &h);
  EXPECT_EQ(w, 341);  // int(256 * 500 / 375) = 341
  EXPECT_EQ(h, 256);
  resized_shorter_dims(100, 333, 256, &w, &h);
  EXPECT_EQ(w, 256);
  EXPECT_EQ(h, 852);
  // 257 -> 224: (257 - 224) / 2 = 16.5 rounds to 16 (half to even, as torchvision).
  Image img = pattern_image(259, 257, 1);
  Image c = center_crop(img, 224, 224);
  EXPECT_EQ(c.at(0, 0, 0), img.at(16, 18, 0));  // (259 - 224) / 2 = 17.5 -> 18
  // Padding when the image is smaller than the crop.
  Image small = pattern_image(3, 2, 1, 5);
  Image p = center_crop(small, 6, 5);
  EXPECT_EQ(p.at(0, 0, 0), 0);
  EXPECT_EQ(p.at(1, 1, 0), small.at(0, 0, 0));  // pad (6-3)/2 = 1 left, (5-2)/2 = 1 top
  // Resize of a constant image stays constant; identity resize is a copy.
  Image k = small;
  std::fill(k.data.begin(), k.data.end(), 90);
  for (bool aa : {false, true}) {
    Image r = resize_bilinear(k, 17, 4, aa);
    for (uint8_t v : r.data) ASSERT_EQ(v, 90);
  }
  EXPECT_EQ(resize_bilinear(img, 259, 257).data, img.data);
}

TEST(Image, ResizeMatchesTorchAndPil) {
  TS_REQUIRE_ORACLE(have_python_module("torch") && have_python_module("PIL"),
                    "/usr/bin/python3 cannot import torch or PIL (python3-torch, python3-pil)");
  Image img = pattern_image(45, 31, 3, 9);
  std::string d = gen_path("");
  write_png(d + "rs_src.png", img);
  std::string script = "import numpy as np, torch\nfrom PIL import Image\nd='" + d + "'\n" + R"PY(
import torch.nn.functional as F
a = np.asarray(Image.open(d + 'rs_src.png'))
x = torch.from_numpy(a).permute(2, 0, 1)[None].float()
for name, size, aa in [('up', (50, 70), False), ('down', (13, 20), False), ('down_aa', (13, 20), True)]:
    y = F.interpolate(x, size=size, mode='bilinear', align_corners=False, antialias=aa)
    np.save(d + 'rs_' + name + '.npy', y[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy())
np.save(d + 'rs_pil.npy', np.asarray(Image.open(d + 'rs_src.png').resize((20, 13), Image.BILINEAR)))
)PY";
  ASSERT_EQ(run_python("resize", script), 0) << "see " << gen_path("resize.log");
  auto compare = [&](const Image& r, const std::string& npy) {
    Tensor ref = read_npy(d + npy);
    ASSERT_EQ(int64_t(r.data.size()), ref.numel()) << npy;
    int maxd = 0;
    for (int64_t i = 0; i < ref.numel(); ++i)
      maxd = std::max<int>(maxd, std::abs(int(r.data[i]) - int(ref.as_int(i))));
    EXPECT_LE(maxd, 1) << npy;
  };
  compare(resize_bilinear(img, 70, 50, false), "rs_up.npy");
  compare(resize_bilinear(img, 20, 13, false), "rs_down.npy");
  compare(resize_bilinear(img, 20, 13, true), "rs_down_aa.npy");
  compare(resize_bilinear(img, 20, 13, true), "rs_pil.npy");
}

TEST(Image, PreprocessMatchesTorchvision) {
  TS_REQUIRE_ORACLE(have_python_module("torchvision") && have_python_module("PIL"),
                    "/usr/bin/python3 cannot import torchvision or PIL");
  Image img = smooth_image(300, 260, 3);
  std::string d = gen_path("");
  write_png(d + "pp_src.png", img);
  std::string script = "import numpy as np, torch\nfrom PIL import Image\nd='" + d + "'\n" + R"PY(
import torchvision.transforms as T
tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
np.save(d + 'pp_ref.npy', tf(Image.open(d + 'pp_src.png').convert('RGB'))[None].numpy())
)PY";
  ASSERT_EQ(run_python("preprocess", script), 0) << "see " << gen_path("preprocess.log");
  Tensor ref = read_npy(d + "pp_ref.npy");
  Tensor ours = imagenet_preprocess(img);
  ASSERT_EQ(ours.shape(), ref.shape());
  double maxd = 0;
  for (int64_t i = 0; i < ref.numel(); ++i)
    maxd = std::max(maxd, std::abs(ours.as_double(i) - ref.as_double(i)));
  EXPECT_LE(maxd, 1.01 / 255 / 0.224);  // at most one grey level apart
}

TEST(Image, TensorToImage) {
  Tensor t = Tensor::from<float>({3, 1, 2}, {0.f, 1.f, 0.5f, -3.f, 2.f, NAN});
  Image img = tensor_to_image(t);
  ASSERT_EQ(img.channels, 3);
  ASSERT_EQ(img.width, 2);
  ASSERT_EQ(img.height, 1);
  EXPECT_EQ(img.data, (std::vector<uint8_t>{0, 128, 255, 255, 0, 0}));
  Tensor back = image_to_tensor(img);
  EXPECT_EQ(back.shape(), (Shape{3, 1, 2}));
  EXPECT_FLOAT_EQ(back.data<float>()[2], 128.0f / 255.0f);
  EXPECT_THROW(tensor_to_image(Tensor(DType::F32, {5, 2, 2})), Error);
  EXPECT_THROW(tensor_to_image(Tensor(DType::F32, {2, 3, 2, 2})), Error);
}

}  // namespace
}  // namespace teesplit
