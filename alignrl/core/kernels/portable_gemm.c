/* A single-precision GEMM whose result is defined by its arithmetic, not by the CPU it runs on.

   Every output element is one fused multiply-add chain over the inner dimension in ascending order, started
   from +0.0f:  acc = fmaf(op(A)[i,p], op(B)[p,j], acc) for p = 0 .. k-1.  Then C = alpha*acc when beta == 0
   (C is not read), else C = (alpha*acc) + (beta*C), each operation rounded once.  IEEE 754 fixes every step,
   so any correct implementation gives the same bits on any CPU with FMA: the blocking below only decides
   which elements are computed together, never the order in which one element is summed (partial chains are
   stored and reloaded in fp32, which is exact).  Compiled with -ffp-contract=off, so the compiler adds no
   fusion of its own.

   It stands in for MKL's sgemm_ and cblas_sgemm_batch, the two GEMM entry points torch calls through its
   procedure linkage table: loaded ahead of torch (LD_PRELOAD, or dlopen with RTLD_GLOBAL before torch is
   imported), torch's matrix products run here.  MKL's own vendor-independent branch (MKL_CBWR=COMPATIBLE)
   runs SSE2 code at about a quarter of the AVX2 speed; this kernel uses AVX2 and FMA, the ISA the portable
   mode already requires.  Single-threaded: the workflow runs every job on one thread. */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MR 16  /* rows of C per micro-tile: two 8-lane vectors, contiguous in column-major C */
#define NR 6   /* columns of C per micro-tile */
#define KC 256 /* inner-dimension block */
#define MC 128 /* rows per packed block of A (a multiple of MR) */
#define NC 3072 /* columns per packed block of B (a multiple of NR) */

static uint64_t calls_gemm = 0;
static uint64_t calls_batch = 0;

/* How many products ran here (checked by the job before it trusts the numeric mode). */
uint64_t alignrl_gemm_calls(void) {
  return __atomic_load_n(&calls_gemm, __ATOMIC_RELAXED) + __atomic_load_n(&calls_batch, __ATOMIC_RELAXED);
}
uint64_t alignrl_gemm_batch_calls(void) { return calls_batch; }
/* The version of the arithmetic above: a change of definition must change it. */
int alignrl_gemm_version(void) { return 1; }

static inline float op_at(const float *x, int ld, int trans, int r, int c) {
  return trans ? x[c + (size_t)r * ld] : x[r + (size_t)c * ld];
}

/* op(A)[i0 .. i0+mc, p0 .. p0+kc] into panels of MR rows, p-major inside a panel, zero-padded. */
static void pack_a(const float *a, int lda, int ta, int i0, int mc, int p0, int kc, float *dst) {
  for (int ir = 0; ir < mc; ir += MR) {
    int rows = mc - ir < MR ? mc - ir : MR;
    for (int p = 0; p < kc; p++) {
      float *d = dst + (size_t)ir * kc + (size_t)p * MR;
      if (!ta && rows == MR) {
        memcpy(d, a + (i0 + ir) + (size_t)(p0 + p) * lda, MR * sizeof(float));
      } else {
        int r = 0;
        for (; r < rows; r++) d[r] = op_at(a, lda, ta, i0 + ir + r, p0 + p);
        for (; r < MR; r++) d[r] = 0.0f;
      }
    }
  }
}

/* op(B)[p0 .. p0+kc, j0 .. j0+nc] into panels of NR columns, p-major inside a panel, zero-padded. */
static void pack_b(const float *b, int ldb, int tb, int p0, int kc, int j0, int nc, float *dst) {
  for (int jr = 0; jr < nc; jr += NR) {
    int cols = nc - jr < NR ? nc - jr : NR;
    float *d = dst + (size_t)jr * kc;
    if (cols < NR) memset(d, 0, (size_t)kc * NR * sizeof(float));
    if (tb) { /* op(B)[p, j] = b[j + p*ldb]: a row of the panel is contiguous */
      for (int p = 0; p < kc; p++) memcpy(d + p * NR, b + (j0 + jr) + (size_t)(p0 + p) * ldb, cols * sizeof(float));
    } else { /* op(B)[p, j] = b[p + j*ldb]: a column of the panel is contiguous */
      for (int c = 0; c < cols; c++) {
        const float *src = b + p0 + (size_t)(j0 + jr + c) * ldb;
        for (int p = 0; p < kc; p++) d[p * NR + c] = src[p];
      }
    }
  }
}

/* Packing and accumulator space, kept per thread between calls: small products are most of the calls. */
static __thread float *scratch[3];
static __thread size_t scratch_len[3];

static float *scratch_for(int slot, size_t floats) {
  if (scratch_len[slot] < floats) {
    free(scratch[slot]);
    size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    scratch[slot] = aligned_alloc(64, bytes);
    scratch_len[slot] = scratch[slot] ? floats : 0;
  }
  return scratch[slot];
}

/* acc (MR x NR, column-major at c with ldc) continues its chains over kc more terms; first: start from 0. */
static void micro_tile(int kc, const float *pa, const float *pb, float *c, int ldc, int rows, int cols,
                       int first) {
  __m256 acc[NR][2];
  float spill[NR * MR];
  int full = rows == MR && cols == NR;
  if (first) {
    for (int j = 0; j < NR; j++) acc[j][0] = acc[j][1] = _mm256_setzero_ps();
  } else if (full) {
    for (int j = 0; j < NR; j++) {
      acc[j][0] = _mm256_loadu_ps(c + (size_t)j * ldc);
      acc[j][1] = _mm256_loadu_ps(c + (size_t)j * ldc + 8);
    }
  } else {
    memset(spill, 0, sizeof spill);
    for (int j = 0; j < cols; j++) memcpy(spill + j * MR, c + (size_t)j * ldc, rows * sizeof(float));
    for (int j = 0; j < NR; j++) {
      acc[j][0] = _mm256_loadu_ps(spill + j * MR);
      acc[j][1] = _mm256_loadu_ps(spill + j * MR + 8);
    }
  }
  for (int p = 0; p < kc; p++) {
    __m256 a0 = _mm256_loadu_ps(pa + p * MR);
    __m256 a1 = _mm256_loadu_ps(pa + p * MR + 8);
    for (int j = 0; j < NR; j++) {
      __m256 bj = _mm256_broadcast_ss(pb + p * NR + j);
      acc[j][0] = _mm256_fmadd_ps(a0, bj, acc[j][0]);
      acc[j][1] = _mm256_fmadd_ps(a1, bj, acc[j][1]);
    }
  }
  if (full) {
    for (int j = 0; j < NR; j++) {
      _mm256_storeu_ps(c + (size_t)j * ldc, acc[j][0]);
      _mm256_storeu_ps(c + (size_t)j * ldc + 8, acc[j][1]);
    }
  } else {
    for (int j = 0; j < NR; j++) {
      _mm256_storeu_ps(spill + j * MR, acc[j][0]);
      _mm256_storeu_ps(spill + j * MR + 8, acc[j][1]);
    }
    for (int j = 0; j < cols; j++) memcpy(c + (size_t)j * ldc, spill + j * MR, rows * sizeof(float));
  }
}

/* acc = op(A) op(B) into c (column-major m x n, ldc), chains as defined at the top. */
static int chains(int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                  float *c, int ldc) {
  int kc_max = k < KC ? k : KC;
  int nc_max = n < NC ? n : NC;
  int mc_max = m < MC ? m : MC;
  size_t a_len = (size_t)((mc_max + MR - 1) / MR) * MR * kc_max;
  size_t b_len = (size_t)((nc_max + NR - 1) / NR) * NR * kc_max;
  float *pa = scratch_for(0, a_len);
  float *pb = scratch_for(1, b_len);
  if (!pa || !pb) return -1;
  for (int j0 = 0; j0 < n; j0 += NC) {
    int nc = n - j0 < NC ? n - j0 : NC;
    for (int p0 = 0; p0 < k; p0 += KC) {
      int kc = k - p0 < KC ? k - p0 : KC;
      pack_b(b, ldb, tb, p0, kc, j0, nc, pb);
      for (int i0 = 0; i0 < m; i0 += MC) {
        int mc = m - i0 < MC ? m - i0 : MC;
        pack_a(a, lda, ta, i0, mc, p0, kc, pa);
        for (int jr = 0; jr < nc; jr += NR) {
          int cols = nc - jr < NR ? nc - jr : NR;
          for (int ir = 0; ir < mc; ir += MR) {
            int rows = mc - ir < MR ? mc - ir : MR;
            micro_tile(kc, pa + (size_t)ir * kc, pb + (size_t)jr * kc,
                       c + (i0 + ir) + (size_t)(j0 + jr) * ldc, ldc, rows, cols, p0 == 0);
          }
        }
      }
    }
  }
  return 0;
}

static int is_trans(char t) { return t == 'T' || t == 't' || t == 'C' || t == 'c'; }

/* out[q][t] = src[t*ld + q] for q, t < 8: eight rows of eight floats, turned into eight columns. */
static inline void transpose8(const float *src, size_t ld, __m256 out[8]) {
  __m256 r[8], u[8], w[8];
  for (int q = 0; q < 8; q++) r[q] = _mm256_loadu_ps(src + (size_t)q * ld);
  for (int q = 0; q < 8; q += 2) {
    u[q] = _mm256_unpacklo_ps(r[q], r[q + 1]);
    u[q + 1] = _mm256_unpackhi_ps(r[q], r[q + 1]);
  }
  for (int q = 0; q < 8; q += 4) {
    w[q] = _mm256_shuffle_ps(u[q], u[q + 2], _MM_SHUFFLE(1, 0, 1, 0));
    w[q + 1] = _mm256_shuffle_ps(u[q], u[q + 2], _MM_SHUFFLE(3, 2, 3, 2));
    w[q + 2] = _mm256_shuffle_ps(u[q + 1], u[q + 3], _MM_SHUFFLE(1, 0, 1, 0));
    w[q + 3] = _mm256_shuffle_ps(u[q + 1], u[q + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int q = 0; q < 4; q++) {
    out[q] = _mm256_permute2f128_ps(w[q], w[q + 4], 0x20);
    out[q + 4] = _mm256_permute2f128_ps(w[q], w[q + 4], 0x31);
  }
}

/* A product with one output column or row (the sampler's per-row attention is m = 1 or n = 1 per item):
   y[i*incy] = chain over p of x[i*si + p*sp] * v[p*sv], then the alpha/beta rule. The same chains as the
   tiled path, without its 6-column tiles, five of which would be padding here. */
static void thin(int rows, int k, const float *x, size_t si, size_t sp, const float *v, size_t sv, float alpha,
                 float beta, float *y, size_t incy) {
  float block[8 * KC];
  for (int i0 = 0; i0 < rows; i0 += 8) {
    int r = rows - i0 < 8 ? rows - i0 : 8;
    __m256 acc = _mm256_setzero_ps();
    for (int p0 = 0; p0 < k; p0 += KC) {
      int kc = k - p0 < KC ? k - p0 : KC;
      if (si == 1 && r == 8) {
        for (int p = 0; p < kc; p++)
          acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + i0 + (size_t)(p0 + p) * sp),
                                _mm256_set1_ps(v[(size_t)(p0 + p) * sv]), acc);
      } else if (sp == 1 && r == 8) { /* rows contiguous in p: transpose 8 x 8 blocks in registers */
        int p = 0;
        for (; p + 8 <= kc; p += 8) {
          __m256 t[8];
          transpose8(x + (size_t)i0 * si + p0 + p, si, t);
          for (int q = 0; q < 8; q++) acc = _mm256_fmadd_ps(t[q], _mm256_set1_ps(v[(size_t)(p0 + p + q) * sv]), acc);
        }
        for (; p < kc; p++) {
          float col[8];
          for (int q = 0; q < 8; q++) col[q] = x[(size_t)(i0 + q) * si + p0 + p];
          acc = _mm256_fmadd_ps(_mm256_loadu_ps(col), _mm256_set1_ps(v[(size_t)(p0 + p) * sv]), acc);
        }
      } else {
        for (int p = 0; p < kc; p++) {
          int q = 0;
          for (; q < r; q++) block[p * 8 + q] = x[(size_t)(i0 + q) * si + (size_t)(p0 + p) * sp];
          for (; q < 8; q++) block[p * 8 + q] = 0.0f;
        }
        for (int p = 0; p < kc; p++)
          acc = _mm256_fmadd_ps(_mm256_loadu_ps(block + p * 8), _mm256_set1_ps(v[(size_t)(p0 + p) * sv]), acc);
      }
    }
    float out[8];
    _mm256_storeu_ps(out, acc);
    for (int q = 0; q < r; q++) {
      float *dst = y + (size_t)(i0 + q) * incy;
      if (beta == 0.0f) {
        *dst = alpha == 1.0f ? out[q] : alpha * out[q];
      } else {
        float scaled = alpha * out[q];
        float kept = beta * *dst;
        *dst = scaled + kept;
      }
    }
  }
}

static void gemm_col_major(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                           const float *b, int ldb, float beta, float *c, int ldc) {
  if (m <= 0 || n <= 0) return;
  if (k > 0 && n == 1) { /* one column: C[:, 0] = op(A) op(B)[:, 0] */
    thin(m, k, a, ta ? (size_t)lda : 1, ta ? 1 : (size_t)lda, b, tb ? (size_t)ldb : 1, alpha, beta, c, 1);
    return;
  }
  if (k > 0 && m == 1) { /* one row: C[0, j] = op(B)[:, j] . op(A)[0, :], the same products in the same order */
    thin(n, k, b, tb ? 1 : (size_t)ldb, tb ? (size_t)ldb : 1, a, ta ? 1 : (size_t)lda, alpha, beta, c,
         (size_t)ldc);
    return;
  }
  if (beta == 0.0f) {
    if (k <= 0) {
      for (int j = 0; j < n; j++) memset(c + (size_t)j * ldc, 0, (size_t)m * sizeof(float));
    } else if (chains(ta, tb, m, n, k, a, lda, b, ldb, c, ldc) != 0) {
      abort(); /* out of memory: never return a wrong product */
    }
    if (alpha != 1.0f) {
      for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) c[i + (size_t)j * ldc] = alpha * c[i + (size_t)j * ldc];
    }
    return;
  }
  float *acc = scratch_for(2, (size_t)m * n);
  if (!acc) abort();
  if (k <= 0) memset(acc, 0, (size_t)m * n * sizeof(float));
  else if (chains(ta, tb, m, n, k, a, lda, b, ldb, acc, m) != 0) abort();
  for (int j = 0; j < n; j++) {
    for (int i = 0; i < m; i++) {
      float scaled = alpha * acc[i + (size_t)j * m];
      float kept = beta * c[i + (size_t)j * ldc];
      c[i + (size_t)j * ldc] = scaled + kept;
    }
  }
}

/* BLAS (Fortran, LP64) entry point: column-major, arguments by reference. */
void sgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k, const float *alpha,
            const float *a, const int *lda, const float *b, const int *ldb, const float *beta, float *c,
            const int *ldc) {
  __atomic_fetch_add(&calls_gemm, 1, __ATOMIC_RELAXED); /* torch may call from several threads */
  gemm_col_major(is_trans(*transa), is_trans(*transb), *m, *n, *k, *alpha, a, *lda, b, *ldb, *beta, c, *ldc);
}

/* CBLAS constants as MKL and the reference CBLAS number them. */
enum { ROW_MAJOR = 101, COL_MAJOR = 102, NO_TRANS = 111 };

/* MKL's grouped batch interface, which torch's bmm calls. Row-major C = op(A) op(B) is the column-major
   product C^T = op(B)^T op(A)^T; the products' terms are the same, so are the chains. */
void cblas_sgemm_batch(int layout, const int *transa, const int *transb, const int *m, const int *n, const int *k,
                       const float *alpha, const float **a, const int *lda, const float **b, const int *ldb,
                       const float *beta, float **c, const int *ldc, int group_count, const int *group_size) {
  __atomic_fetch_add(&calls_batch, 1, __ATOMIC_RELAXED);
  size_t item = 0;
  for (int g = 0; g < group_count; g++) {
    int ta = transa[g] != NO_TRANS, tb = transb[g] != NO_TRANS;
    for (int s = 0; s < group_size[g]; s++, item++) {
      if (layout == COL_MAJOR) {
        gemm_col_major(ta, tb, m[g], n[g], k[g], alpha[g], a[item], lda[g], b[item], ldb[g], beta[g], c[item],
                       ldc[g]);
      } else {
        gemm_col_major(tb, ta, n[g], m[g], k[g], alpha[g], b[item], ldb[g], a[item], lda[g], beta[g], c[item],
                       ldc[g]);
      }
    }
  }
}

/* The definition itself, one scalar chain per element: what the tests compare the fast path with. */
void alignrl_sgemm_reference(char transa, char transb, int m, int n, int k, float alpha, const float *a, int lda,
                             const float *b, int ldb, float beta, float *c, int ldc) {
  int ta = is_trans(transa), tb = is_trans(transb);
  for (int j = 0; j < n; j++) {
    for (int i = 0; i < m; i++) {
      float acc = 0.0f;
      for (int p = 0; p < k; p++) acc = fmaf(op_at(a, lda, ta, i, p), op_at(b, ldb, tb, p, j), acc);
      float *out = c + i + (size_t)j * ldc;
      if (beta == 0.0f) {
        *out = alpha == 1.0f ? acc : alpha * acc;
      } else {
        float scaled = alpha * acc;
        float kept = beta * *out;
        *out = scaled + kept;
      }
    }
  }
}
