// Fuzz target: a JPEG file (libjpeg through reference/vision/image_io.cpp) decoded and preprocessed
// as `gemma4-harness vision-preprocess IMAGE` does (fuzz_image_common.hpp).
#include "tests/fuzz/fuzz_image_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  g4::fuzz::fuzz_image(data, size, "image.jpg");
  return 0;
}
