// GSL's headers, as GSLNumerics uses them. GSL's CBLAS calls resolve to OpenBLAS
// (see Package.swift), so GSL_RANGE_CHECK and friends stay at their defaults.
#include <gsl/gsl_errno.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_statistics_double.h>
#include <gsl/gsl_sort_double.h>
#include <gsl/gsl_vector.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_blas.h>
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_version.h>

// GSL exposes generator types as mutable globals, which Swift 6 rejects as
// shared mutable state; this accessor reads the (never written) pointer.
static inline const gsl_rng_type *nasd_gsl_rng_mt19937(void) { return gsl_rng_mt19937; }
