#pragma once
// Host API of tc_gpu.cu (nvcc): the tensor-core test kernels on the GPU, and managed memory.
#include <cstddef>
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace g4::cuda::test::gpu {

int device_count();
void* managed(std::size_t bytes);
void release(void* p);
void synchronize();
void mma16_bf16(const __nv_bfloat16* A, const __nv_bfloat16* B, const float* C, float* D, int layout);
void mma16_f16(const __half* A, const __half* B, const float* C, float* D, int layout);
void mma_s8(const int8_t* A, const int8_t* B, const int* C, int* D, int layout);
void cp_async(const float* x, float* y, int n);

// A managed-memory array usable from host code and kernels (synchronise before reading).
template <class T>
class Managed {
 public:
  explicit Managed(std::size_t n) : p_(static_cast<T*>(managed(n * sizeof(T) + 16))), n_(n) {}
  ~Managed() { release(p_); }
  Managed(const Managed&) = delete;
  Managed& operator=(const Managed&) = delete;
  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return n_; }
  T& operator[](std::size_t i) { return p_[i]; }
  const T& operator[](std::size_t i) const { return p_[i]; }

 private:
  T* p_;
  std::size_t n_;
};

}  // namespace g4::cuda::test::gpu
