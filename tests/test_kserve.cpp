// The back partition over the KServe v2 gRPC inference protocol: the .proto
// against the specification's table, kserve:// addresses, `teesplit
// serve-back` in its own process against the in-process back partition, its
// errors, and `teesplit serve --back kserve://` end to end in two processes.
#include <arpa/inet.h>
#include <google/protobuf/descriptor.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "attest/sim_root.h"
#include "client/client.h"
#include "core/file.h"
#include "data/dataset.h"
#include "host/model.h"
#include "kserve/v2/inference.grpc.pb.h"
#include "serve/back_endpoint.h"
#include "serve/kserve.h"
#include "serve/remote.h"
#include "serve/triton.h"
#include "support/metrics_scrape.h"
#include "support/test_support.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;
namespace pb = ::inference;
using testing::binary_path;
using testing::run_command;

// ---------------------------------------------------------------- the .proto

// The specification's messages, transcribed by hand from the text of kserve/kserve
// docs/predict-api/v2/grpc_predict_v2.proto (the source cited in the .proto):
// message, field, number, whether repeated. A second transcription, so that a
// slip in proto/kserve/v2/inference.proto shows here.
struct SpecField {
  const char* message;
  const char* field;
  int number;
  bool repeated;
};
const SpecField kSpec[] = {
    {"ServerLiveResponse", "live", 1, false},
    {"ServerReadyResponse", "ready", 1, false},
    {"ModelReadyRequest", "name", 1, false},
    {"ModelReadyRequest", "version", 2, false},
    {"ModelReadyResponse", "ready", 1, false},
    {"ServerMetadataResponse", "name", 1, false},
    {"ServerMetadataResponse", "version", 2, false},
    {"ServerMetadataResponse", "extensions", 3, true},
    {"ModelMetadataRequest", "name", 1, false},
    {"ModelMetadataRequest", "version", 2, false},
    {"ModelMetadataResponse.TensorMetadata", "name", 1, false},
    {"ModelMetadataResponse.TensorMetadata", "datatype", 2, false},
    {"ModelMetadataResponse.TensorMetadata", "shape", 3, true},
    {"ModelMetadataResponse", "name", 1, false},
    {"ModelMetadataResponse", "versions", 2, true},
    {"ModelMetadataResponse", "platform", 3, false},
    {"ModelMetadataResponse", "inputs", 4, true},
    {"ModelMetadataResponse", "outputs", 5, true},
    {"ModelInferRequest.InferInputTensor", "name", 1, false},
    {"ModelInferRequest.InferInputTensor", "datatype", 2, false},
    {"ModelInferRequest.InferInputTensor", "shape", 3, true},
    {"ModelInferRequest.InferInputTensor", "parameters", 4, true},
    {"ModelInferRequest.InferInputTensor", "contents", 5, false},
    {"ModelInferRequest.InferRequestedOutputTensor", "name", 1, false},
    {"ModelInferRequest.InferRequestedOutputTensor", "parameters", 2, true},
    {"ModelInferRequest", "model_name", 1, false},
    {"ModelInferRequest", "model_version", 2, false},
    {"ModelInferRequest", "id", 3, false},
    {"ModelInferRequest", "parameters", 4, true},
    {"ModelInferRequest", "inputs", 5, true},
    {"ModelInferRequest", "outputs", 6, true},
    {"ModelInferRequest", "raw_input_contents", 7, true},
    {"ModelInferResponse.InferOutputTensor", "name", 1, false},
    {"ModelInferResponse.InferOutputTensor", "datatype", 2, false},
    {"ModelInferResponse.InferOutputTensor", "shape", 3, true},
    {"ModelInferResponse.InferOutputTensor", "parameters", 4, true},
    {"ModelInferResponse.InferOutputTensor", "contents", 5, false},
    {"ModelInferResponse", "model_name", 1, false},
    {"ModelInferResponse", "model_version", 2, false},
    {"ModelInferResponse", "id", 3, false},
    {"ModelInferResponse", "parameters", 4, true},
    {"ModelInferResponse", "outputs", 5, true},
    {"ModelInferResponse", "raw_output_contents", 6, true},
    {"InferParameter", "bool_param", 1, false},
    {"InferParameter", "int64_param", 2, false},
    {"InferParameter", "string_param", 3, false},
    {"InferTensorContents", "bool_contents", 1, true},
    {"InferTensorContents", "int_contents", 2, true},
    {"InferTensorContents", "int64_contents", 3, true},
    {"InferTensorContents", "uint_contents", 4, true},
    {"InferTensorContents", "uint64_contents", 5, true},
    {"InferTensorContents", "fp32_contents", 6, true},
    {"InferTensorContents", "fp64_contents", 7, true},
    {"InferTensorContents", "bytes_contents", 8, true},
};

TEST(KServeProto, EveryFieldMatchesTheSpecification) {
  const auto* file = pb::ModelInferRequest::descriptor()->file();
  EXPECT_EQ(file->package(), "inference");
  std::map<std::string, int> fields_per_message;
  for (const SpecField& f : kSpec) {
    const auto* m = file->pool()->FindMessageTypeByName(std::string("inference.") + f.message);
    ASSERT_NE(m, nullptr) << f.message;
    const auto* d = m->FindFieldByName(f.field);
    ASSERT_NE(d, nullptr) << f.message << "." << f.field;
    EXPECT_EQ(d->number(), f.number) << f.message << "." << f.field;
    EXPECT_EQ(d->is_repeated(), f.repeated) << f.message << "." << f.field;
    ++fields_per_message[f.message];
  }
  // No field beyond the specification's.
  for (const auto& [name, count] : fields_per_message) {
    const auto* m = file->pool()->FindMessageTypeByName("inference." + name);
    EXPECT_EQ(m->field_count(), count) << name;
  }
  for (const char* empty : {"ServerLiveRequest", "ServerReadyRequest", "ServerMetadataRequest"})
    EXPECT_EQ(file->pool()->FindMessageTypeByName(std::string("inference.") + empty)->field_count(),
              0);
  // The oneof of InferParameter; the typed contents per datatype.
  const auto* param = pb::InferParameter::descriptor();
  ASSERT_EQ(param->oneof_decl_count(), 1);
  EXPECT_EQ(param->oneof_decl(0)->name(), "parameter_choice");
  EXPECT_EQ(pb::InferTensorContents::descriptor()->FindFieldByName("fp32_contents")->type(),
            google::protobuf::FieldDescriptor::TYPE_FLOAT);
  EXPECT_EQ(pb::ModelInferRequest::descriptor()->FindFieldByName("raw_input_contents")->type(),
            google::protobuf::FieldDescriptor::TYPE_BYTES);

  const auto* service = file->FindServiceByName("GRPCInferenceService");
  ASSERT_NE(service, nullptr);
  const std::vector<std::array<const char*, 3>> methods = {
      {"ServerLive", "ServerLiveRequest", "ServerLiveResponse"},
      {"ServerReady", "ServerReadyRequest", "ServerReadyResponse"},
      {"ModelReady", "ModelReadyRequest", "ModelReadyResponse"},
      {"ServerMetadata", "ServerMetadataRequest", "ServerMetadataResponse"},
      {"ModelMetadata", "ModelMetadataRequest", "ModelMetadataResponse"},
      {"ModelInfer", "ModelInferRequest", "ModelInferResponse"},
  };
  EXPECT_EQ(service->method_count(), static_cast<int>(methods.size()));
  for (const auto& [name, in, out] : methods) {
    const auto* m = service->FindMethodByName(name);
    ASSERT_NE(m, nullptr) << name;
    EXPECT_EQ(m->input_type()->name(), in);
    EXPECT_EQ(m->output_type()->name(), out);
    EXPECT_FALSE(m->client_streaming() || m->server_streaming()) << name;
  }
}

TEST(KServeAddress, ParsesAndRefuses) {
  const serve::KServeAddress a =
      serve::parse_kserve_address("kserve://triton.svc:8001/resnet_back");
  EXPECT_EQ(a.target, "triton.svc:8001");
  EXPECT_EQ(a.model, "resnet_back");
  EXPECT_EQ(a.version, "");
  EXPECT_EQ(a.url(), "kserve://triton.svc:8001/resnet_back");
  const serve::KServeAddress v = serve::parse_kserve_address("kserve://[::1]:8001/back/3");
  EXPECT_EQ(v.target, "[::1]:8001");
  EXPECT_EQ(v.version, "3");
  const std::pair<const char*, const char*> bad[] = {
      {"http://h:1/m", "expected kserve://"},
      {"kserve://h:1", "no model name"},
      {"kserve://h:1/", "empty model name"},
      {"kserve://h/m", "HOST:PORT"},
      {"kserve://h:0/m", "1..65535"},
      {"kserve://h:99999/m", "1..65535"},
      {"kserve://h:80x/m", "1..65535"},
      {"kserve://h:1/m/1/2", "MODEL[/VERSION]"},
      {"kserve://h:1/m/", "empty model version"},
      {"kserve://:1/m", "HOST:PORT"},
  };
  for (const auto& [url, why] : bad) {
    const std::string e = testing::error_of([&] { serve::parse_kserve_address(url); });
    EXPECT_NE(e.find(why), std::string::npos) << url << ": " << e;
  }
}

// ---------------------------------------------------------------- serve-back

std::string make_split(const std::string& name) {
  return testing::make_resnet50_split("kserve", name);
}

// `teesplit serve-back SPLIT --listen 127.0.0.1:0 --threads 1 ARGS...` in a
// child process; address() is empty when it did not come up within 60 s.
class BackProcess : public testing::ListeningProcess {
 public:
  BackProcess(const std::string& split, const std::string& dir,
              const std::vector<std::string>& extra = {})
      : ListeningProcess(args(split, extra), dir, "serve-back") {}

 private:
  static std::vector<std::string> args(const std::string& split,
                                       const std::vector<std::string>& extra) {
    std::vector<std::string> a = {"serve-back", split, "--listen", "127.0.0.1:0", "--threads", "1"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
};

std::unique_ptr<pb::GRPCInferenceService::Stub> stub_for(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  return pb::GRPCInferenceService::NewStub(
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
}

grpc::Status call_infer(const std::string& address, const pb::ModelInferRequest& q,
                        pb::ModelInferResponse* r) {
  grpc::ClientContext c;
  c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  return stub_for(address)->ModelInfer(&c, q, r);
}

// A well-formed raw request for feature maps x.
pb::ModelInferRequest request_for(const std::string& model, const std::string& input,
                                  const Tensor& x) {
  pb::ModelInferRequest q;
  q.set_model_name(model);
  auto* in = q.add_inputs();
  in->set_name(input);
  in->set_datatype("FP32");
  for (int64_t d : x.shape()) in->add_shape(d);
  q.add_raw_input_contents(static_cast<const char*>(x.raw()), x.nbytes());
  return q;
}

TEST(KServe, ServeBackMatchesTheLocalBackPartition) {
  const std::string dir = make_split("match");
  const std::string split = dir + "/split";
  BackProcess back(split, dir);
  ASSERT_FALSE(back.address().empty()) << back.log();
  const SplitManifest m = manifest_from_json(read_file(split + "/manifest.json"));

  serve::KServeClient client(serve::parse_kserve_address("kserve://" + back.address() + "/back"));
  EXPECT_TRUE(client.server_live());
  EXPECT_TRUE(client.server_ready());
  EXPECT_TRUE(client.model_ready());
  const serve::KServeModelMetadata md = client.model_metadata();
  EXPECT_EQ(md.name, "back");
  EXPECT_EQ(md.versions, std::vector<std::string>{"1"});
  ASSERT_EQ(md.inputs.size(), 1u);
  EXPECT_EQ(md.inputs[0].name, m.feature_name);
  EXPECT_EQ(md.inputs[0].datatype, "FP32");
  Shape any = m.feature_shape;
  any[0] = -1;
  EXPECT_EQ(md.inputs[0].shape, any);
  ASSERT_EQ(md.outputs.size(), 1u);
  EXPECT_EQ(md.outputs[0].datatype, "FP32");
  EXPECT_EQ(md.outputs[0].shape, (Shape{-1, 10}));

  SplitManifest lm;
  auto local = serve::open_local_back(split, {}, &lm);
  auto remote = serve::open_kserve_back(client.address(), m);
  EXPECT_EQ(remote->describe(), "kserve://" + back.address() + "/back");
  for (int64_t n : {1, 3, 8}) {
    Shape s = m.feature_shape;
    s[0] = n;
    const Tensor x = testing::random_tensor(s, 100 + n, 0.f, 2.f);
    const Tensor want = local->run(x);
    const Tensor got = remote->run(x);
    ASSERT_EQ(got.shape(), want.shape()) << "batch " << n;
    EXPECT_LE(testing::rel_error(got, want), 1e-4) << "batch " << n;
  }

  // The typed form of the input (contents.fp32_contents) gives the same output.
  const Tensor x = testing::random_tensor(m.feature_shape, 7, 0.f, 2.f);
  pb::ModelInferRequest q = request_for("back", m.feature_name, x);
  q.clear_raw_input_contents();
  q.set_id("typed-1");
  auto* c = q.mutable_inputs(0)->mutable_contents();
  for (int64_t i = 0; i < x.numel(); ++i) c->add_fp32_contents(x.data<float>()[i]);
  pb::ModelInferResponse r;
  const grpc::Status st = call_infer(back.address(), q, &r);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(r.id(), "typed-1");
  EXPECT_EQ(r.model_name(), "back");
  ASSERT_EQ(r.outputs_size(), 1);
  ASSERT_EQ(r.raw_output_contents_size(), 1);
  const Tensor want = local->run(x);
  ASSERT_EQ(r.raw_output_contents(0).size(), want.nbytes());
  Tensor got(DType::F32, want.shape());
  std::memcpy(got.raw(), r.raw_output_contents(0).data(), got.nbytes());
  EXPECT_LE(testing::rel_error(got, want), 1e-4);

  EXPECT_EQ(back.stop() & 0x7f, 0) << "serve-back did not exit on SIGTERM: " << back.log();
}

TEST(KServe, ServeBackRefusesWhatIsNotItsInput) {
  const std::string dir = make_split("errors");
  const std::string split = dir + "/split";
  BackProcess back(split, dir, {"--model-name", "resnet_tail", "--max-batch", "4"});
  ASSERT_FALSE(back.address().empty()) << back.log();
  const SplitManifest m = manifest_from_json(read_file(split + "/manifest.json"));
  const Tensor x = testing::random_tensor(m.feature_shape, 1);

  struct Case {
    const char* what;
    std::function<void(pb::ModelInferRequest&)> edit;
    grpc::StatusCode code;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"wrong model", [](auto& q) { q.set_model_name("back"); }, grpc::StatusCode::NOT_FOUND,
       "unknown model 'back': this server serves 'resnet_tail'"},
      {"wrong version", [](auto& q) { q.set_model_version("2"); }, grpc::StatusCode::NOT_FOUND,
       "no version '2'"},
      {"wrong input name", [](auto& q) { q.mutable_inputs(0)->set_name("input"); },
       grpc::StatusCode::INVALID_ARGUMENT, "unknown input 'input'"},
      {"wrong datatype", [](auto& q) { q.mutable_inputs(0)->set_datatype("FP16"); },
       grpc::StatusCode::INVALID_ARGUMENT, "datatype 'FP16'; it takes FP32"},
      {"wrong shape", [](auto& q) { q.mutable_inputs(0)->set_shape(2, q.inputs(0).shape(2) + 1); },
       grpc::StatusCode::INVALID_ARGUMENT, "has shape"},
      {"wrong rank", [](auto& q) { q.mutable_inputs(0)->add_shape(1); },
       grpc::StatusCode::INVALID_ARGUMENT, "has shape"},
      {"batch too large", [](auto& q) { q.mutable_inputs(0)->set_shape(0, 5); },
       grpc::StatusCode::INVALID_ARGUMENT, "with a batch of 1..4"},
      {"batch 0", [](auto& q) { q.mutable_inputs(0)->set_shape(0, 0); },
       grpc::StatusCode::INVALID_ARGUMENT, "has shape"},
      {"short raw contents",
       [](auto& q) { q.mutable_raw_input_contents(0)->resize(q.raw_input_contents(0).size() - 4); },
       grpc::StatusCode::INVALID_ARGUMENT, "raw_input_contents has"},
      {"raw and typed",
       [](auto& q) { q.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1); },
       grpc::StatusCode::INVALID_ARGUMENT, "both contents and raw_input_contents"},
      {"no contents", [](auto& q) { q.clear_raw_input_contents(); },
       grpc::StatusCode::INVALID_ARGUMENT, "contents.fp32_contents"},
      {"two inputs", [](auto& q) { *q.add_inputs() = q.inputs(0); },
       grpc::StatusCode::INVALID_ARGUMENT, "takes 1 input"},
      {"unknown output", [](auto& q) { q.add_outputs()->set_name("probs"); },
       grpc::StatusCode::INVALID_ARGUMENT, "unknown output 'probs'"},
  };
  for (const Case& c : cases) {
    pb::ModelInferRequest q = request_for("resnet_tail", m.feature_name, x);
    c.edit(q);
    pb::ModelInferResponse r;
    const grpc::Status st = call_infer(back.address(), q, &r);
    EXPECT_EQ(st.error_code(), c.code) << c.what << ": " << st.error_message();
    EXPECT_NE(st.error_message().find(c.message), std::string::npos)
        << c.what << ": " << st.error_message();
  }
  // The unedited request works, so the cases above fail for their edit alone.
  pb::ModelInferResponse r;
  EXPECT_TRUE(call_infer(back.address(), request_for("resnet_tail", m.feature_name, x), &r).ok());

  // The client side: a wrong model name is refused when the back is opened.
  const std::string wrong = testing::error_of([&] {
    serve::open_kserve_back(serve::parse_kserve_address("kserve://" + back.address() + "/back"), m);
  });
  EXPECT_NE(wrong.find("model 'back' is not ready"), std::string::npos) << wrong;
  // A split whose feature map is not this model's input.
  SplitManifest other = m;
  other.feature_name = "something_else";
  const std::string named = testing::error_of([&] {
    serve::open_kserve_back(
        serve::parse_kserve_address("kserve://" + back.address() + "/resnet_tail"), other);
  });
  EXPECT_NE(named.find("the model's input is '" + m.feature_name + "'"), std::string::npos)
      << named;
  other = m;
  other.feature_shape[1] += 1;
  const std::string shaped = testing::error_of([&] {
    serve::open_kserve_back(
        serve::parse_kserve_address("kserve://" + back.address() + "/resnet_tail"), other);
  });
  EXPECT_NE(shaped.find("the model's input has shape"), std::string::npos) << shaped;
}

TEST(KServe, AServerThatIsDownIsAClearRetryableError) {
  // A port nothing listens on: bind one, then close it.
  std::string address;
  {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    address = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
    ::close(fd);
  }
  SplitManifest m;
  m.feature_name = "x";
  m.feature_shape = {1, 4};
  serve::KServeClientOptions o;
  o.timeout_ms = 5000;
  try {
    serve::open_kserve_back(serve::parse_kserve_address("kserve://" + address + "/back"), m, o);
    FAIL() << "opened a back on a server that is down";
  } catch (const serve::RemoteError& e) {
    EXPECT_TRUE(e.retryable());
    const std::string msg = e.what();
    EXPECT_NE(msg.find("kserve://" + address + "/back: ServerLive: UNAVAILABLE"), std::string::npos)
        << msg;
  }
}

// ---------------------------------------------------------------- Triton

// The `name` and `dims` of the one entry of config.pbtxt's `input [...]` or
// `output [...]` list.
std::pair<std::string, Shape> config_entry(const std::string& text, const std::string& list) {
  const size_t at = text.find("\n" + list + " [");
  if (at == std::string::npos) return {};
  const std::string block = text.substr(at, text.find("\n]", at) - at);
  std::smatch name, dims;
  if (!std::regex_search(block, name, std::regex("name: \"([^\"]+)\"")) ||
      !std::regex_search(block, dims, std::regex("dims: \\[([^\\]]*)\\]")) ||
      block.find("data_type: TYPE_FP32") == std::string::npos)
    return {};
  Shape s;
  std::istringstream in(dims[1].str());
  std::string d;
  while (std::getline(in, d, ',')) s.push_back(std::stoll(d));
  return {name[1].str(), s};
}

TEST(KServe, TritonRepositoryAgreesWithBackOnnx) {
  const std::string dir = make_split("triton");
  const std::string split = dir + "/split";
  int code = 0;
  const std::string out = run_command(
      binary_path("teesplit") + " triton-repo " + split + " -o " + dir + "/repo --max-batch 16",
      &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(read_file(dir + "/repo/back/1/model.onnx"), read_file(split + "/back.onnx"));
  const std::string text = read_file(dir + "/repo/back/config.pbtxt");
  EXPECT_NE(text.find("\nname: \"back\"\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nbackend: \"onnxruntime\"\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nmax_batch_size: 16\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kind: KIND_GPU"), std::string::npos) << text;

  // back.onnx itself, read by the ONNX importer: its input and output are the
  // config's, with the batch dimension (dynamic) in front of the dims.
  auto back = open_model_session(split + "/back.onnx", {});
  ASSERT_TRUE(back.ok()) << back.error();
  const Graph& g = (*back)->graph();
  ASSERT_EQ(g.inputs.size(), 1u);
  ASSERT_EQ(g.outputs.size(), 1u);
  const auto [in_name, in_dims] = config_entry(text, "input");
  const auto [out_name, out_dims] = config_entry(text, "output");
  EXPECT_EQ(in_name, g.value(g.inputs[0]).name);
  EXPECT_EQ(out_name, g.value(g.outputs[0]).name);
  Shape in_full = g.value(g.inputs[0]).shape;
  ASSERT_FALSE(in_full.empty());
  EXPECT_EQ(in_full[0], -1) << "back.onnx's batch dimension is not dynamic";
  EXPECT_EQ(Shape(in_full.begin() + 1, in_full.end()), in_dims);
  // The output at batch 5 is [5, dims...].
  Shape x_shape = in_full;
  x_shape[0] = 5;
  const Tensor y = (*back)->run({testing::random_tensor(x_shape, 3)})[0];
  EXPECT_EQ(Shape(y.shape().begin() + 1, y.shape().end()), out_dims);
  EXPECT_EQ(y.shape()[0], 5);

  // The repository in deploy/triton/ is this one (the shipped Fashion-MNIST
  // ResNet-50 cut at layer2.0), up to its comment lines.
  auto body = [](const std::string& t) {
    std::istringstream in(t);
    std::string line, out;
    while (std::getline(in, line))
      if (line.rfind("#", 0) != 0) out += line + "\n";
    return out;
  };
  const std::string shipped =
      read_file(testing::source_path("deploy/triton/model_repository/back/config.pbtxt"));
  const std::string made = run_command(
      binary_path("teesplit") + " triton-repo " + split + " -o " + dir + "/repo-default", &code);
  ASSERT_EQ(code, 0) << made;
  EXPECT_EQ(body(shipped), body(read_file(dir + "/repo-default/back/config.pbtxt")))
      << "regenerate deploy/triton/model_repository (deploy/triton/README.md)";
}

// ---------------------------------------------------------------- serve --back

TEST(KServe, ServeWithARemoteBackMatchesTheUnsplitModel) {
  const std::string dir = make_split("two-process");
  const std::string split = dir + "/split";
  BackProcess back(split, dir);
  ASSERT_FALSE(back.address().empty()) << back.log();
  const std::string url = "kserve://" + back.address() + "/back";
  // Batched: up to 4 feature maps per call of the remote back.
  testing::ServeProcess server(split, dir, 2,
                               {"--back", url, "--max-batch", "4", "--max-delay-ms", "50",
                                "--metrics-listen", "127.0.0.1:0"});
  ASSERT_FALSE(server.address().empty()) << server.log();
  EXPECT_NE(server.log().find("back: " + url), std::string::npos) << server.log();

  attest::Policy policy = client::policy_from_manifest(split + "/manifest.json", std::nullopt);
  policy.simulated_root = attest::sim_root_public_key(dir + "/sim-root.pem");
  policy.allow_simulated = true;
  serve::RemoteEnclave remote(server.address());
  EXPECT_EQ(remote.info().back_backend, "kserve");
  client::Attestation a;
  ASSERT_TRUE(remote.attest(a, policy).accepted);

  auto whole = open_model_session(testing::source_path("models/fashion-mnist-resnet50.onnx"), {});
  ASSERT_TRUE(whole.ok()) << whole.error();
  const Batch batch = testing::fashion_test()->get_batch(0, 16);
  const Tensor want = (*whole)->run({batch.images})[0];
  for (int64_t i = 0; i < 16; ++i) {
    const Tensor got = remote.infer(a, testing::batch_row(batch.images, i));
    const Tensor ref = testing::batch_row(want, i);
    EXPECT_LE(testing::rel_error(got, ref), 1e-4) << "image " << i;
  }

  // 8 clients at once: their feature maps share remote calls, each gets its own row.
  std::vector<std::thread> clients;
  std::atomic<int> wrong{0};
  for (int64_t i = 0; i < 8; ++i)
    clients.emplace_back([&, i] {
      serve::RemoteEnclave r(server.address());
      client::Attestation ai;
      if (!r.attest(ai, policy).accepted) {
        ++wrong;
        return;
      }
      const Tensor got = r.infer(ai, testing::batch_row(batch.images, i));
      if (testing::rel_error(got, testing::batch_row(want, i)) > 1e-4) ++wrong;
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(wrong, 0);
  auto m = testing::scrape_metrics(testing::metrics_endpoint(dir + "/serve.out"));
  EXPECT_EQ(m["teesplit_back_batch_size_sum"], 16 + 8);
  EXPECT_LT(m["teesplit_back_batch_size_count"], 16 + 8) << "no remote call carried a batch";

  // The back server goes away: the request fails, retryable, and says where.
  back.stop();
  Tensor x(DType::F32, {1, 1, 32, 32});
  try {
    remote.infer(a, x);
    FAIL() << "inferred without the back server";
  } catch (const serve::RemoteError& e) {
    EXPECT_TRUE(e.retryable()) << e.what();
    EXPECT_NE(std::string(e.what()).find("the back partition's server: " + url), std::string::npos)
        << e.what();
  }
}

TEST(KServe, ServeRefusesToStartWithoutItsBackServer) {
  const std::string dir = make_split("no-back");
  int code = 0;
  const std::string out = run_command(
      binary_path("teesplit") + " serve " + dir + "/split --listen 127.0.0.1:0 --sim-root " + dir +
          "/sim-root.pem --state-dir " + dir + "/state --back kserve://127.0.0.1:1/back 2>&1",
      &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("kserve://127.0.0.1:1/back: ServerLive: UNAVAILABLE"), std::string::npos)
      << out;
  const std::string bad = run_command(
      binary_path("teesplit") + " serve " + dir + "/split --back http://127.0.0.1:1/back 2>&1",
      &code);
  EXPECT_NE(code, 0) << bad;
  EXPECT_NE(bad.find("expected kserve://HOST:PORT/MODEL"), std::string::npos) << bad;
}

}  // namespace
}  // namespace teesplit
