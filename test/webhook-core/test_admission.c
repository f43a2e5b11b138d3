#include <criterion/criterion.h>
#include "admission.h"
Test(admission, placeholder) {}
