#include "serve/kserve.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <mutex>

#include "host/split_io.h"
#include "kserve/v2/inference.grpc.pb.h"
#include "serve/remote.h"
#include "serve/status_name.h"

namespace teesplit::serve {

namespace kpb = ::inference;  // KServe v2 (pb is teesplit.v1 in this namespace)
using grpc::Status;
using grpc::StatusCode;

namespace {

constexpr const char* kScheme = "kserve://";
constexpr const char* kFp32 = "FP32";
constexpr const char* kVersion = "1";  // the one version serve-back serves

std::string shape_with_batch(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

// The size in bytes of an FP32 tensor of shape s, or 0 when a dimension is not
// positive or the size passes `limit`.
size_t fp32_bytes(const Shape& s, size_t limit) {
  size_t n = 4;
  for (int64_t d : s) {
    if (d <= 0 || static_cast<uint64_t>(d) > limit / n) return 0;
    n *= static_cast<size_t>(d);
  }
  return n;
}

// Whether `got` fits `want`, where -1 in want is any size.
bool shape_fits(const Shape& got, const Shape& want) {
  if (got.size() != want.size()) return false;
  for (size_t i = 0; i < got.size(); ++i)
    if (want[i] != -1 && want[i] != got[i]) return false;
  return true;
}

int clamp_int(size_t n) {
  return static_cast<int>(std::min<size_t>(n, size_t{INT32_MAX}));
}

}  // namespace

// ---------------------------------------------------------------- addresses

std::string KServeAddress::url() const {
  return std::string(kScheme) + target + "/" + model + (version.empty() ? "" : "/" + version);
}

KServeAddress parse_kserve_address(const std::string& url) {
  const std::string what = "--back '" + url + "': ";
  TS_CHECK(url.rfind(kScheme, 0) == 0, what, "expected kserve://HOST:PORT/MODEL");
  const std::string rest = url.substr(std::strlen(kScheme));
  const size_t slash = rest.find('/');
  TS_CHECK(slash != std::string::npos, what, "no model name (kserve://HOST:PORT/MODEL)");
  KServeAddress a;
  a.target = rest.substr(0, slash);
  const size_t colon = a.target.rfind(':');
  TS_CHECK(colon != std::string::npos && colon > 0, what, "expected HOST:PORT before the model");
  const std::string port = a.target.substr(colon + 1);
  unsigned p = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  TS_CHECK(ec == std::errc() && end == port.data() + port.size() && p >= 1 && p <= 65535, what,
           "port '", port, "' is not a number in 1..65535");
  const std::string path = rest.substr(slash + 1);
  const size_t slash2 = path.find('/');
  a.model = path.substr(0, slash2);
  if (slash2 != std::string::npos) a.version = path.substr(slash2 + 1);
  TS_CHECK(!a.model.empty(), what, "empty model name");
  TS_CHECK(a.version.find('/') == std::string::npos, what,
           "expected kserve://HOST:PORT/MODEL[/VERSION]");
  TS_CHECK(slash2 == std::string::npos || !a.version.empty(), what, "empty model version");
  return a;
}

// ---------------------------------------------------------------- the client

struct KServeClient::Impl {
  std::unique_ptr<kpb::GRPCInferenceService::Stub> stub;
  KServeClientOptions opts;

  std::unique_ptr<grpc::ClientContext> context() const {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(opts.timeout_ms));
    return c;
  }
};

namespace {

[[noreturn]] void raise(const KServeAddress& a, const char* call, const Status& s) {
  const StatusCode c = s.error_code();
  const bool retryable = c == StatusCode::UNAVAILABLE || c == StatusCode::DEADLINE_EXCEEDED ||
                         c == StatusCode::RESOURCE_EXHAUSTED;
  throw RemoteError(a.url() + ": " + call + ": " + status_code_name(c) + ": " + s.error_message() +
                        (retryable ? " (retryable)" : ""),
                    retryable, status_code_name(c));
}

}  // namespace

KServeClient::KServeClient(KServeAddress address, const KServeClientOptions& opts)
    : address_(std::move(address)), impl_(std::make_unique<Impl>()) {
  impl_->opts = opts;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(clamp_int(opts.max_message_bytes));
  args.SetMaxSendMessageSize(clamp_int(opts.max_message_bytes));
  impl_->stub = kpb::GRPCInferenceService::NewStub(
      grpc::CreateCustomChannel(address_.target, grpc::InsecureChannelCredentials(), args));
}

KServeClient::~KServeClient() = default;

bool KServeClient::server_live() {
  kpb::ServerLiveResponse r;
  auto c = impl_->context();
  if (Status s = impl_->stub->ServerLive(c.get(), {}, &r); !s.ok())
    raise(address_, "ServerLive", s);
  return r.live();
}

bool KServeClient::server_ready() {
  kpb::ServerReadyResponse r;
  auto c = impl_->context();
  if (Status s = impl_->stub->ServerReady(c.get(), {}, &r); !s.ok())
    raise(address_, "ServerReady", s);
  return r.ready();
}

bool KServeClient::model_ready() {
  kpb::ModelReadyRequest q;
  q.set_name(address_.model);
  q.set_version(address_.version);
  kpb::ModelReadyResponse r;
  auto c = impl_->context();
  if (Status s = impl_->stub->ModelReady(c.get(), q, &r); !s.ok()) raise(address_, "ModelReady", s);
  return r.ready();
}

KServeModelMetadata KServeClient::model_metadata() {
  kpb::ModelMetadataRequest q;
  q.set_name(address_.model);
  q.set_version(address_.version);
  kpb::ModelMetadataResponse r;
  auto c = impl_->context();
  if (Status s = impl_->stub->ModelMetadata(c.get(), q, &r); !s.ok())
    raise(address_, "ModelMetadata", s);
  KServeModelMetadata m;
  m.name = r.name();
  m.platform = r.platform();
  m.versions.assign(r.versions().begin(), r.versions().end());
  auto tensors = [](const auto& list) {
    std::vector<KServeTensor> out;
    for (const auto& t : list)
      out.push_back({t.name(), t.datatype(), {t.shape().begin(), t.shape().end()}});
    return out;
  };
  m.inputs = tensors(r.inputs());
  m.outputs = tensors(r.outputs());
  return m;
}

Tensor KServeClient::infer(const std::string& input_name, const Tensor& input,
                           const std::string& output_name) {
  TS_CHECK(input.dtype() == DType::F32, "KServe infer: the input must be FP32");
  kpb::ModelInferRequest q;
  q.set_model_name(address_.model);
  q.set_model_version(address_.version);
  kpb::ModelInferRequest::InferInputTensor* in = q.add_inputs();
  in->set_name(input_name);
  in->set_datatype(kFp32);
  for (int64_t d : input.shape()) in->add_shape(d);
  q.add_outputs()->set_name(output_name);
  q.add_raw_input_contents(static_cast<const char*>(input.raw()), input.nbytes());
  kpb::ModelInferResponse r;
  auto c = impl_->context();
  if (Status s = impl_->stub->ModelInfer(c.get(), q, &r); !s.ok()) raise(address_, "ModelInfer", s);

  const std::string what = address_.url() + ": ModelInfer's response: ";
  int index = -1;
  for (int i = 0; i < r.outputs_size(); ++i)
    if (r.outputs(i).name() == output_name) index = i;
  TS_CHECK(index >= 0, what, "no output named '", output_name, "'");
  const auto& o = r.outputs(index);
  TS_CHECK(o.datatype() == kFp32, what, "output '", output_name, "' has datatype ", o.datatype(),
           ", expected FP32");
  const Shape shape(o.shape().begin(), o.shape().end());
  const size_t bytes = fp32_bytes(shape, impl_->opts.max_message_bytes);
  TS_CHECK(bytes > 0 && !shape.empty(), what, "output '", output_name, "' has shape ",
           shape_with_batch(shape));
  Tensor out(DType::F32, shape);
  if (r.raw_output_contents_size() > 0) {
    TS_CHECK(r.raw_output_contents_size() == r.outputs_size(), what, r.outputs_size(),
             " outputs but ", r.raw_output_contents_size(), " raw_output_contents");
    TS_CHECK(!o.has_contents(), what, "output '", output_name, "' has both raw and typed contents");
    const std::string& raw = r.raw_output_contents(index);
    TS_CHECK(raw.size() == bytes, what, "output '", output_name, "' of shape ",
             shape_with_batch(shape), " needs ", bytes, " bytes, raw_output_contents has ",
             raw.size());
    std::memcpy(out.raw(), raw.data(), bytes);
  } else {
    const auto& v = o.contents().fp32_contents();
    TS_CHECK(static_cast<size_t>(v.size()) * 4 == bytes, what, "output '", output_name,
             "' of shape ", shape_with_batch(shape), " has ", v.size(), " fp32_contents");
    std::copy(v.begin(), v.end(), out.data<float>());
  }
  return out;
}

// ---------------------------------------------------------------- the remote back

namespace {

class KServeBack final : public BackEndpoint {
 public:
  KServeBack(const KServeAddress& a, const SplitManifest& m, const KServeClientOptions& opts)
      : client_(a, opts), feature_(m.feature_shape), feature_name_(m.feature_name) {
    const std::string what = "--back " + a.url() + ": ";
    TS_CHECK(client_.server_live(), what, "the server says it is not live");
    TS_CHECK(client_.model_ready(), what, "model '", a.model, "' is not ready on the server");
    const KServeModelMetadata md = client_.model_metadata();
    TS_CHECK(md.inputs.size() == 1, what, "model '", a.model, "' has ", md.inputs.size(),
             " inputs; the back partition takes one, the feature map '", feature_name_, "'");
    const KServeTensor& in = md.inputs[0];
    TS_CHECK(in.name == feature_name_, what, "the model's input is '", in.name,
             "', the split's feature map is '", feature_name_, "'");
    TS_CHECK(in.datatype == kFp32, what, "the model's input has datatype ", in.datatype,
             ", the feature map is FP32");
    Shape want = feature_;
    TS_CHECK(!want.empty(), what, "the split's feature map has no batch dimension");
    Shape any_batch = want;
    any_batch[0] = -1;
    TS_CHECK(shape_fits(want, in.shape) || shape_fits(any_batch, in.shape), what,
             "the model's input has shape ", shape_with_batch(in.shape),
             ", the feature map has shape ", shape_with_batch(want));
    fixed_batch_ = in.shape[0];  // -1: any
    TS_CHECK(md.outputs.size() == 1, what, "model '", a.model, "' has ", md.outputs.size(),
             " outputs; expected one (the back partition's)");
    TS_CHECK(md.outputs[0].datatype == kFp32, what, "the model's output has datatype ",
             md.outputs[0].datatype, ", expected FP32");
    output_ = md.outputs[0];
  }

  Tensor run(const Tensor& features) override {
    const Shape& s = features.shape();
    TS_CHECK(features.dtype() == DType::F32 && s.size() == feature_.size() && !s.empty() &&
                 std::equal(s.begin() + 1, s.end(), feature_.begin() + 1),
             client_.address().url(), ": feature maps of shape ", shape_with_batch(s),
             " do not match the split's ", shape_with_batch(feature_));
    TS_CHECK(fixed_batch_ == -1 || s[0] == fixed_batch_, client_.address().url(),
             ": the model takes batches of ", fixed_batch_, " only, not ", s[0]);
    Tensor out = client_.infer(feature_name_, features, output_.name);
    Shape want = output_.shape;
    if (!want.empty() && want[0] == -1) want[0] = s[0];
    TS_CHECK(out.shape()[0] == s[0] && shape_fits(out.shape(), want), client_.address().url(),
             ": output '", output_.name, "' has shape ", shape_with_batch(out.shape()),
             " for a batch of ", s[0], "; the model's metadata says ",
             shape_with_batch(output_.shape));
    return out;
  }
  std::string describe() const override { return client_.address().url(); }

 private:
  KServeClient client_;
  Shape feature_;
  std::string feature_name_;
  int64_t fixed_batch_ = -1;
  KServeTensor output_;
};

}  // namespace

std::unique_ptr<BackEndpoint> open_kserve_back(const KServeAddress& address,
                                               const SplitManifest& manifest,
                                               const KServeClientOptions& opts) {
  return std::make_unique<KServeBack>(address, manifest, opts);
}

// ---------------------------------------------------------------- serve-back

struct BackServer::Impl final : public kpb::GRPCInferenceService::Service {
  BackServerOptions opts;
  std::unique_ptr<Session> session;
  std::mutex run_mu;
  std::string input_name, output_name;
  Shape feature;  // batch 1
  Shape output;   // batch 1
  size_t max_message = 0;
  std::unique_ptr<grpc::Server> server;
  std::string address;

  explicit Impl(const BackServerOptions& o) : opts(o) {
    TS_CHECK(!opts.model_name.empty() && opts.model_name.find('/') == std::string::npos,
             "--model-name must be a non-empty name without '/'");
    TS_CHECK(opts.max_batch >= 1 && opts.max_batch <= 4096, "--max-batch must be 1..4096");
    auto opened = open_split_back(opts.split_dir, opts.session);
    if (!opened) fail(opened.error());
    session = std::move(opened->session);
    const Graph& g = session->graph();
    TS_CHECK(g.inputs.size() == 1 && g.outputs.size() == 1, opts.split_dir,
             "/back.onnx: serve-back serves a back partition of one input and one output");
    input_name = g.value(g.inputs[0]).name;
    output_name = g.value(g.outputs[0]).name;
    feature = opened->manifest.feature_shape;
    TS_CHECK(!feature.empty() && feature[0] == 1, opts.split_dir,
             "/manifest.json: the feature map's batch dimension is not 1");
    // Compile for batch 1 now, not on the first request; the output shape from it.
    output = session->run({Tensor(DType::F32, feature)})[0].shape();
    TS_CHECK(!output.empty() && output[0] == 1, opts.split_dir,
             "/back.onnx: the output has no batch dimension");
    const size_t in_bytes = fp32_bytes(feature, SIZE_MAX / 8);
    const size_t out_bytes = fp32_bytes(output, SIZE_MAX / 8);
    max_message = std::max(in_bytes, out_bytes) * static_cast<size_t>(opts.max_batch) + (1 << 16);
    TS_CHECK(max_message < size_t{INT32_MAX}, "--max-batch ", opts.max_batch,
             ": a batch would not fit one gRPC message (2 GiB)");

    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort(opts.listen, grpc::InsecureServerCredentials(), &port);
    b.SetMaxReceiveMessageSize(static_cast<int>(max_message));
    b.SetMaxSendMessageSize(static_cast<int>(max_message));
    b.RegisterService(this);
    server = b.BuildAndStart();
    TS_CHECK(server && port > 0, "cannot listen on ", opts.listen);
    address = opts.listen.substr(0, opts.listen.rfind(':')) + ":" + std::to_string(port);
  }

  // NOT_FOUND unless (name, version) is what this server serves.
  Status check_model(const std::string& name, const std::string& version) const {
    if (name != opts.model_name)
      return Status(StatusCode::NOT_FOUND,
                    "unknown model '" + name + "': this server serves '" + opts.model_name + "'");
    if (!version.empty() && version != kVersion)
      return Status(StatusCode::NOT_FOUND, "model '" + name + "' has no version '" + version +
                                               "' (it has version " + kVersion + ")");
    return Status::OK;
  }

  Shape with_any_batch(Shape s) const {
    s[0] = -1;
    return s;
  }

  Status ServerLive(grpc::ServerContext*, const kpb::ServerLiveRequest*,
                    kpb::ServerLiveResponse* r) override {
    r->set_live(true);
    return Status::OK;
  }
  Status ServerReady(grpc::ServerContext*, const kpb::ServerReadyRequest*,
                     kpb::ServerReadyResponse* r) override {
    r->set_ready(true);  // the back partition is loaded before the server listens
    return Status::OK;
  }
  Status ModelReady(grpc::ServerContext*, const kpb::ModelReadyRequest* q,
                    kpb::ModelReadyResponse* r) override {
    r->set_ready(check_model(q->name(), q->version()).ok());
    return Status::OK;
  }
  Status ServerMetadata(grpc::ServerContext*, const kpb::ServerMetadataRequest*,
                        kpb::ServerMetadataResponse* r) override {
    r->set_name("teesplit serve-back");
    r->set_version(opts.server_version);
    return Status::OK;
  }
  Status ModelMetadata(grpc::ServerContext*, const kpb::ModelMetadataRequest* q,
                       kpb::ModelMetadataResponse* r) override {
    if (Status s = check_model(q->name(), q->version()); !s.ok()) return s;
    r->set_name(opts.model_name);
    r->add_versions(kVersion);
    r->set_platform(std::string("teesplit_") + backend_kind_name(opts.session.backend));
    auto add = [](kpb::ModelMetadataResponse::TensorMetadata* t, const std::string& name,
                  const Shape& s) {
      t->set_name(name);
      t->set_datatype(kFp32);
      for (int64_t d : s) t->add_shape(d);
    };
    add(r->add_inputs(), input_name, with_any_batch(feature));
    add(r->add_outputs(), output_name, with_any_batch(output));
    return Status::OK;
  }

  static Status invalid(const std::string& msg) {
    return Status(StatusCode::INVALID_ARGUMENT, msg);
  }

  // The request's one input as a tensor, or INVALID_ARGUMENT saying what is wrong.
  Status read_input(const kpb::ModelInferRequest& q, Tensor& x) const {
    const std::string model = "model '" + opts.model_name + "'";
    if (q.inputs_size() != 1)
      return invalid(model + " takes 1 input ('" + input_name + "'); the request has " +
                     std::to_string(q.inputs_size()));
    const auto& in = q.inputs(0);
    if (in.name() != input_name)
      return invalid(model + ": unknown input '" + in.name() + "'; its input is '" + input_name +
                     "'");
    if (in.datatype() != kFp32)
      return invalid(model + ": input '" + input_name + "' has datatype '" + in.datatype() +
                     "'; it takes FP32");
    const Shape s(in.shape().begin(), in.shape().end());
    const bool dims_ok = s.size() == feature.size() &&
                         std::equal(s.begin() + 1, s.end(), feature.begin() + 1) && s[0] >= 1 &&
                         s[0] <= opts.max_batch;
    if (!dims_ok)
      return invalid(model + ": input '" + input_name + "' has shape " + shape_with_batch(s) +
                     "; it takes " + shape_with_batch(with_any_batch(feature)) +
                     " with a batch of 1.." + std::to_string(opts.max_batch));
    const size_t bytes = fp32_bytes(s, max_message);
    if (bytes == 0) return invalid(model + ": input too large");
    x = Tensor(DType::F32, s);
    if (q.raw_input_contents_size() > 0) {
      if (in.has_contents())
        return invalid(model + ": input '" + input_name +
                       "' has both contents and raw_input_contents");
      if (q.raw_input_contents_size() != 1)
        return invalid(model + ": 1 input but " + std::to_string(q.raw_input_contents_size()) +
                       " raw_input_contents");
      const std::string& raw = q.raw_input_contents(0);
      if (raw.size() != bytes)
        return invalid(model + ": input '" + input_name + "' of shape " + shape_with_batch(s) +
                       " needs " + std::to_string(bytes) +
                       " bytes of FP32; raw_input_contents has " + std::to_string(raw.size()));
      std::memcpy(x.raw(), raw.data(), bytes);
      return Status::OK;
    }
    const auto& v = in.contents().fp32_contents();
    if (static_cast<size_t>(v.size()) * 4 != bytes)
      return invalid(model + ": input '" + input_name + "' of shape " + shape_with_batch(s) +
                     " needs " + std::to_string(bytes / 4) + " values in contents.fp32_contents" +
                     " (or raw_input_contents); it has " + std::to_string(v.size()));
    std::copy(v.begin(), v.end(), x.data<float>());
    return Status::OK;
  }

  Status ModelInfer(grpc::ServerContext*, const kpb::ModelInferRequest* q,
                    kpb::ModelInferResponse* r) override {
    if (Status s = check_model(q->model_name(), q->model_version()); !s.ok()) return s;
    for (const auto& o : q->outputs())
      if (o.name() != output_name)
        return invalid("model '" + opts.model_name + "': unknown output '" + o.name() +
                       "'; its output is '" + output_name + "'");
    Tensor x;
    if (Status s = read_input(*q, x); !s.ok()) return s;
    Tensor y;
    try {
      std::lock_guard<std::mutex> lock(run_mu);
      y = session->run({x})[0];
    } catch (const std::exception& e) {
      return Status(StatusCode::INTERNAL, std::string("the back partition: ") + e.what());
    }
    r->set_model_name(opts.model_name);
    r->set_model_version(kVersion);
    r->set_id(q->id());
    auto* o = r->add_outputs();
    o->set_name(output_name);
    o->set_datatype(kFp32);
    for (int64_t d : y.shape()) o->add_shape(d);
    r->add_raw_output_contents(static_cast<const char*>(y.raw()), y.nbytes());
    return Status::OK;
  }
};

BackServer::BackServer(const BackServerOptions& opts) : impl_(std::make_unique<Impl>(opts)) {}
BackServer::~BackServer() {
  if (impl_ && impl_->server) impl_->server->Shutdown();
}
const std::string& BackServer::address() const {
  return impl_->address;
}
void BackServer::wait() {
  impl_->server->Wait();
}
void BackServer::shutdown() {
  impl_->server->Shutdown();
}

}  // namespace teesplit::serve
