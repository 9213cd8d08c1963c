// The pinned Intel SGX Root CA: the production root of Intel's SGX Provisioning
// Certification Key (PCK) hierarchy, which signs the PCK Platform CA and the PCK
// Processor CA, which sign every SGX platform's PCK certificate.
//
// Where the pin comes from: Intel publishes this certificate at
//   https://certificates.trustedservices.intel.com/Intel_SGX_Provisioning_Certification_RootCA.der
// (its own CRL distribution point names
// https://certificates.trustedservices.intel.com/IntelSGXRootCA.der).
// That URL cannot be reached from the machines this was built on; the bytes
// below are the root certificate that ends the PCK chains of both genuine quotes
// in tests/data/sgx-quotes/ (identical DER in both), and the same certificate
// (the same SHA-256) is pinned by independent public DCAP verifiers. Check it
// against Intel's copy before trusting a release: `curl -s URL | sha256sum`, with
// the URL above, must print kIntelSgxRootCaSha256 (tests/test_attest_dcap.cpp
// checks the constant against these bytes).
//
//   subject = issuer: CN=Intel SGX Root CA, O=Intel Corporation, L=Santa Clara,
//                     ST=CA, C=US
//   serial 22650cd65a9d3489f383b49552bf501b392706ac
//   valid 2018-05-21 10:45:10 to 2049-12-31 23:59:59 UTC
//   key: ECDSA P-256, x 0ba9c4c0c0c86193a3fe23d6b02cda10a8bbd4e88e48b4458561a36e705525f5,
//                     y 67918e2edc88e40d860bd0cc4ee26aacc988e505a953558c453f6b0904ae7394
//
// Intel issued an earlier certificate for the same key (valid 2018-2033, CRL at
// .../IntelSGXRootCA.crl). A chain ending in it is refused: the pin is these bytes.
#include "attest/dcap.h"

namespace teesplit::attest {

const char* const kIntelSgxRootCaSha256 =
    "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3";

// PEM of the certificate above (parsed once by intel_sgx_root_ca_der(), dcap.cpp).
extern const char* const kIntelSgxRootCaPem;
const char* const kIntelSgxRootCaPem = R"(
-----BEGIN CERTIFICATE-----
MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw
aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv
cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ
BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG
A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0
aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT
AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7
1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB
uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ
MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50
ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV
Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI
KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg
AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=
-----END CERTIFICATE-----
)";

}  // namespace teesplit::attest
