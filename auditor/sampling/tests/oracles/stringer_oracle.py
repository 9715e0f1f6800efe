"""Independent oracle for the Stringer bound (pure Python floats, bisection on the Poisson CDF).
Run: python3 stringer_oracle.py"""
from math import exp, factorial, ceil


def pois_cdf(k, lam):
    return sum(exp(-lam) * lam**i / factorial(i) for i in range(k + 1))


def factor(k, conf):
    lo, hi = 0.0, 100.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if pois_cdf(k, mid) > 1 - conf:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def stringer(n, taints, conf):
    t = sorted(taints, reverse=True)
    ul = [factor(i, conf) for i in range(len(t) + 1)]
    return (ul[0] + sum((ul[i + 1] - ul[i]) * t[i] for i in range(len(t)))) / n


if __name__ == "__main__":
    ub = stringer(100, [0.5, 0.2, 1.0], 0.95)
    print(f"n=100 taints 0.5,0.2,1.0 at 95%: UB = {ub:.12f}, on B = 100000000 cents: {ceil(ub * 100000000)}")
    print(f"factors 95%: {[round(factor(i, 0.95), 6) for i in range(4)]}")
    print(f"n=60 no taints at 95%: {stringer(60, [], 0.95):.12f}")
