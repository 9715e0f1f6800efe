"""Independent exact oracle (Python fractions / integers) for cells the data files take from the
exact rule rather than from a printed table. Run: python3 exact_oracle.py"""
from fractions import Fraction as F
from math import comb, ceil


def binom_cdf(n, x, p):
    return sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(x + 1))


def binom_plan(t, e, conf, strict=True):
    alpha = 1 - conf
    n = 0
    while True:
        n += 1
        x = ceil(e * n)  # exact: e is a Fraction
        if n <= x:
            continue
        r = binom_cdf(n, x, t)
        if (r < alpha) if strict else (r <= alpha):
            return n, x, r


def hyper_cdf(x, N, K, n):
    return F(sum(comb(K, i) * comb(N - K, n - i) for i in range(0, min(x, K, n) + 1)), comb(N, n))


def hyper_plan(t, e, conf, N):
    alpha = 1 - conf
    K = ceil(t * N)
    for n in range(1, N + 1):
        x = ceil(e * n)
        if n <= x:
            continue
        if hyper_cdf(x, N, K, n) <= alpha:
            return n, K


if __name__ == "__main__":
    for t, e, c in [(F(5, 100), F(35, 1000), F(9, 10)), (F(8, 100), F(7, 100), F(9, 10)),
                    (F(7, 100), F(325, 10000), F(9, 10)), (F(7, 100), F(35, 1000), F(9, 10)),
                    (F(4, 100), F(275, 10000), F(95, 100))]:
        n, x, r = binom_plan(t, e, c)
        print(f"binomial T={t} E={e} c={c}: n={n} x={x} risk={float(r):.7f}")
    print("hypergeometric N=50 T=5% c=95%:", hyper_plan(F(5, 100), F(0), F(95, 100), 50))
    print("hypergeometric N=100 T=1% c=90%:", hyper_plan(F(1, 100), F(0), F(9, 10), 100))
    print("hypergeometric N=100 T=5% E=1% c=95%:", hyper_plan(F(5, 100), F(1, 100), F(95, 100), 100))
    print("hypergeometric N=200 T=3% c=90%:", hyper_plan(F(3, 100), F(0), F(9, 10), 200))
    print("hypergeometric N=1000 T=5% E=1% c=95%:", hyper_plan(F(5, 100), F(1, 100), F(95, 100), 1000))
