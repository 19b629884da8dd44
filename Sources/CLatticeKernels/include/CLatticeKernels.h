// Umbrella header of the C kernels. List every public header here: an explicit umbrella makes
// incremental builds notice a new header (an umbrella directory's module map is cached).
#include "lt_attention.h"
#include "lt_common.h"
#include "lt_conv.h"
#include "lt_convert.h"
#include "lt_elementwise.h"
#include "lt_gemm.h"
#include "lt_sparse.h"
