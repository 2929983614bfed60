#include <cblas.h>
#include <stddef.h>

/* LAPACK routines that OpenBLAS exports (Fortran ABI: arguments by pointer,
   hidden string lengths last). Declared here because Debian's OpenBLAS ships
   no lapacke.h. */
void ssyevd_(const char *jobz, const char *uplo, const int *n, float *a, const int *lda, float *w,
             float *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t jobz_len, size_t uplo_len);
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info, size_t uplo_len);
