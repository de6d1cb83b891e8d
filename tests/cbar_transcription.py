"""NumPy transcriptions of ImageNet-C-bar's generator, written from the published code of
facebookresearch/augmentation-corruption (`imagenet_c_bar/corrupt.py`, `utils/image.py`, `utils/perlin_noise.py`,
`imagenet_c_bar.csv`): each `transform` of an `(s, s, 3)` uint8 image with `im_size = s`, taking the random draws
(the parameters and the arrays the reference draws from its `seed`) as given, so a test can feed them the draws
of `corruptions.cbar`. The oracle of `test_corruptions_cbar.py`."""

import numpy as np
from scipy.fftpack import ifft2
from scipy.ndimage import gaussian_filter

# imagenet_c_bar.csv as published: the oracle of the levels.
CSV = """caustic_refraction,2.35,3.2,4.9,6.6,9.15
inverse_sparkles,1.0,2.0,4.0,9.0,10.0
sparkles,1.0,2.0,3.0,5.0,6.0
perlin_noise,4.6,5.2,5.8,7.6,8.8
blue_noise_sample,0.8,1.6,2.4,4.0,5.6
plasma_noise,4.75,7.0,8.5,9.25,10.0
checkerboard_cutout,2.0,3.0,4.0,5.0,6.0
cocentric_sine_waves,3.0,5.0,8.0,9.0,10.0
single_frequency_greyscale,1.0,1.5,2.0,4.5,5.0
brownish_noise,1.0,2.0,3.0,4.0,5.0"""
CSV_LEVELS = {row.split(",")[0]: [float(v) for v in row.split(",")[1:]] for row in CSV.splitlines()}


def float_parameter(level: float, maxval: float) -> float:
    return float(level) * maxval / 10.0


def ref_single_frequency_greyscale(image, level, p):
    s = image.shape[0]
    noise = np.array([[np.sin(x * p["freq"][0] + y * p["freq"][1] + p["phase"]) for x in range(s)] for y in range(s)])
    return np.clip(image + float_parameter(level, 196) * np.stack([noise] * 3, axis=2), 0, 255).astype(np.uint8)


def ref_cocentric_sine_waves(image, level, p):
    s, (x0, y0) = image.shape[0], p["offset"]

    def ring(x, y):
        angle = np.arctan2(x - x0, y - y0) * p["freq"]
        d = (np.sqrt((x - x0) ** 2 + (y - y0) ** 2) + np.sin(angle) * p["amplitude"]) % p["ring_width"]
        return d / p["ring_width"] - 0.5

    noise = np.array([[ring(x, y) for x in range(s)] for y in range(s)])
    noise = np.stack([float_parameter(level, 128) * noise] * 3, axis=2)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def ref_plasma_noise(image, level, p):
    s, rand, intensity = image.shape[0], p["time"], float_parameter(level, 64)
    y, x = np.mgrid[0:s, 0:s].astype(np.float64) / p["scale"]
    i = np.array([1.0, 1.0, 1.0, 0.0])
    for _ in range(p["iterations"]):
        r = np.array([np.cos(y * i[0] - i[3] + rand / i[1]), np.sin(x * i[0] - i[3] + rand / i[1])]) / i[2]
        r += np.array([-r[1], r[0]]) * 0.3
        x, y = x + r[0], y + r[1]
        i *= np.array([1.93, 1.15, (2.25 - p["sharpness"]), rand * i[1]])
    noise = np.stack([np.sin(x - rand), np.sin((x + y + np.sin(rand)) * 0.5), np.sin(y + rand)], axis=2)
    return np.clip((1 - intensity / 255) * image + intensity * noise, 0, 255).astype(np.uint8)


def ref_checkerboard_cutout(image, level, p):
    s, angle, scale = image.shape[0], p["angle"], p["scale"]
    grid = p["cells"] < float_parameter(level, 1.0)
    assert grid.shape == (int(4 * s // scale), int(4 * s // scale))

    def keep(y, x):
        nx = (np.cos(angle) * y + np.sin(angle) * x) / scale
        ny = (-np.sin(angle) * y + np.cos(angle) * x) / scale
        return (int(nx % 2) != int(ny % 2)) or not grid[int(nx), int(ny)]

    out = np.array([[image[y, x] if keep(y, x) else np.array([128, 128, 128]) for x in range(s)] for y in range(s)])
    return np.clip(out, 0, 255).astype(np.uint8)


def _ref_star(s, center, ray_lengths, amount):
    """The sparkle kernel's weight f at every pixel [y, x] (`radius != 0`), as an `(s, s, 1)` array."""
    rays, lengths = len(ray_lengths), np.asarray(ray_lengths)
    y, x = np.mgrid[0:s, 0:s].astype(np.float64)
    dp0, dp1 = y - center[0], x - center[1]
    d = (np.arctan2(dp1, dp0) + np.pi) / (2 * np.pi) * rays
    i = d.astype(int)
    f = d - i
    length = lengths[i % rays] + f * (lengths[(i + 1) % rays] - lengths[i % rays])
    g = (length**2 / (np.sqrt(dp0**2 + dp1**2) ** 2 + 1e-4)) ** ((100 - amount) / 50.0)
    return np.clip((1 - (f - 0.5) ** 2) * g, 0, 1)[..., None]


def ref_sparkles(image, level, p):
    s, color = image.shape[0], np.array([255, 255, 255])
    radius = float_parameter(level, 0.1) * s
    out = image.astype(np.float32)
    for center, noise in zip(p["centers"], p["ray_noise"]):
        lengths = [max(1, radius + 25 / 100.0 * radius * n) for n in noise]
        out = out + _ref_star(s, center, lengths, 50) * (color - out)
    return np.clip(out, 0, 255).astype(np.uint8)


def ref_inverse_sparkles(image, level, p):
    s, color = image.shape[0], np.array([255, 255, 255])
    radius, amount = 0.25 * s, 100 - float_parameter(level, 65)
    lengths = [radius + 25 / 100.0 * radius * n for n in p["ray_noise"]]
    out = color + _ref_star(s, p["center"], lengths, amount) * (image.astype(np.float32) - color)
    return np.clip(out, 0, 255).astype(np.uint8)


class RefPerlin:
    """`utils/perlin_noise.py`'s generator, its random draws given."""

    B, N = 256, 16 * 256

    def __init__(self, gradient_draws, swaps):
        g = (gradient_draws % (2 * self.B) - self.B) / self.B
        g = g / np.linalg.norm(g, axis=1, keepdims=True)
        self.g = np.concatenate([g, g, g[:2]])  # g[B + i] = g[i] for i < B + 2
        self.p = np.arange(2 * self.B + 2)
        for i, j in zip(np.arange(self.B - 1, -1, -1), swaps):
            self.p[i], self.p[j] = self.p[j], self.p[i]
        self.p[self.B:] = self.p[:self.B + 2]

    def noise(self, x, y):
        t = x + self.N
        bx0 = t.astype(int) % self.B
        bx1, rx0 = (bx0 + 1) % self.B, t % 1
        t = y + self.N
        by0 = t.astype(int) % self.B
        by1, ry0 = (by0 + 1) % self.B, t % 1
        rx1, ry1 = rx0 - 1.0, ry0 - 1.0
        i, j = self.p[bx0], self.p[bx1]
        b00, b10, b01, b11 = self.p[i + by0], self.p[j + by0], self.p[i + by1], self.p[j + by1]
        sx, sy = rx0**2 * (3.0 - 2.0 * rx0), ry0**2 * (3.0 - 2.0 * ry0)
        u, v = rx0 * self.g[b00, 0] + ry0 * self.g[b00, 1], rx1 * self.g[b10, 0] + ry0 * self.g[b10, 1]
        a = u + sx * (v - u)
        u, v = rx0 * self.g[b01, 0] + ry1 * self.g[b01, 1], rx1 * self.g[b11, 0] + ry1 * self.g[b11, 1]
        b = u + sx * (v - u)
        return 1.5 * (a + sy * (b - a))

    def turbulence(self, x, y, octaves):
        t, f = 0.0, 1.0
        while f <= octaves:
            t = t + np.abs(self.noise(f * x, f * y)) / f
            f *= 2
        return t


def ref_perlin_noise(image, level, p):
    s, alpha = image.shape[0], float_parameter(level, 0.50)
    m = np.array([[1, 0], [0, 1]]) / (32 * s / 224)
    y, x = np.mgrid[0:s, 0:s].astype(np.float64)
    f = RefPerlin(p["gradients"], p["swaps"]).turbulence(y * m[0, 0] + x * m[1, 0], y * m[0, 1] + x * m[1, 1], 16.0)
    noise = np.clip(np.stack([0.5 * f + 0.5] * 3, axis=2), 0, 1.0)
    return np.clip((1 - alpha) * image.astype(np.float32) + 255 * alpha * noise, 0, 255).astype(np.uint8)


def _ref_fourier_noise(s, phases, centre, power):
    if s % 2 == 0:
        phases = np.concatenate((phases, phases[::-1, ::-1]), axis=1)
    else:
        column = np.concatenate((centre[:, None], np.array([[0.0]]), centre[::-1, None]), axis=0)
        phases = np.concatenate((phases, column, phases[::-1, ::-1]), axis=1)
    spectrum = np.roll(np.roll(power * (np.cos(phases) + np.sin(phases) * 1j), s // 2, axis=0), s // 2, axis=1)
    noise = np.real(ifft2(spectrum))
    return noise / np.std(noise)


def _distance_to_centre(s):
    return np.array([[np.linalg.norm(np.array([x, y]) - s / 2) for x in range(s)] for y in range(s)])


def ref_blue_noise_sample(image, level, p):
    s = image.shape[0]
    noise = _ref_fourier_noise(s, p["phases"], p["centre"], _distance_to_centre(s))
    mask = noise > float_parameter(level, 3.0) - 2.5
    return np.clip(image * mask.reshape(s, s, 1), 0, 255).astype(np.uint8)


def ref_brownish_noise(image, level, p):
    s = image.shape[0]
    power = 1 / (_distance_to_centre(s) ** 2 + 1)
    noise = np.stack([_ref_fourier_noise(s, ph, c, power) for ph, c in zip(p["phases"], p["centres"])], axis=2)
    return np.clip(image + float_parameter(level, 64) * noise, 0, 255).astype(np.uint8)


def _ref_bilinear(image, point):
    """`utils/image.py` `bilinear_interpolation`: zero outside the image."""
    left, up = int(np.floor(point[0])), int(np.floor(point[1]))
    right, down = left + 1, up + 1

    def at(a, b):
        inside = 0 <= a < image.shape[0] and 0 <= b < image.shape[1]
        return image[a, b, :] if inside else np.array([0, 0, 0])

    a_left = at(left, up) * (1.0 - point[1] + up) + at(left, down) * (1.0 - down + point[1])
    a_right = at(right, up) * (1.0 - point[1] + up) + at(right, down) * (1.0 - down + point[1])
    return a_left * (1.0 - point[0] + left) + a_right * (1.0 - right + point[0])


def ref_caustic_refraction(image, level, p):
    s, time, size, eta = image.shape[0], p["time"], p["size"], 4.0
    lens_scale, lighting = float_parameter(level, 0.5 * s), float_parameter(level, 2.0)

    def caustic(point):
        q = (point / size % 1) * 6.28318530718 - 250
        i, c, inten = q.copy(), 1.0, 0.005
        for n in range(5):
            t = time * (1.0 - (3.5 / (n + 1)))
            i = q + np.array([np.cos(t - i[0]) + np.sin(t + i[1]), np.sin(t - i[1]) + np.cos(t + i[0])])
            c += 1.0 / np.sqrt((q[0] / (np.sin(i[0] + t) / inten)) ** 2 + (q[1] / (np.cos(i[1] + t) / inten)) ** 2)
        c = 1.17 - (c / 5.0) ** 1.4
        return np.array([np.clip(np.abs(c) ** 8.0, 0, 1)] * 3)

    def refract(incident, normal):
        if np.abs(np.dot(incident, normal)) >= 1.0 - 1e-3:
            return incident
        out_angle = np.arcsin(np.sin(np.arccos(np.dot(incident, normal))) / eta)
        spectator = np.cross(incident, normal)
        spectator /= np.linalg.norm(spectator)
        rotation = np.stack((normal, np.cross(normal, spectator), spectator), axis=0)
        return np.matmul(np.linalg.inv(rotation), np.array([np.cos(out_angle), np.sin(out_angle), 0.0]))

    def luma(origin, offset):
        a, b = origin[0] + offset[0], origin[1] + offset[1]
        value = noise[a, b, :] if 0 <= a < s and 0 <= b < s else np.array([0.0, 0.0, 0])
        return np.dot(value, np.array([0.2126, 0.7152, 0.0722]))

    noise = gaussian_filter(np.array([[caustic(np.array([y, x])) for x in range(s)] for y in range(s)]), sigma=1)
    picture = image.astype(np.float32) / 255
    out = np.zeros((s, s, 3))
    for y in range(s):
        for x in range(s):
            point = np.array([y, x])
            north, south, west, east = (luma(point, o) for o in ([0, -1], [0, 1], [-1, 0], [1, 0]))
            normal = np.array([east - west, south - north, 1.0])
            vector = np.round(refract(np.array([0.0, 0.0, 1.0]), normal / np.linalg.norm(normal)) * lens_scale, 3)
            pixel = _ref_bilinear(picture, point + vector[0:2])
            pixel = pixel + (north - south) * lighting + (east - west) * lighting
            out[y, x] = np.clip(pixel, 0, 1)
    return np.clip((out * 255).astype(np.uint8), 0, 255)


# Corruption name -> transcription `(image, level, draws) -> uint8 image`.
REFERENCE = {name: globals()[f"ref_{name}"] for name in CSV_LEVELS}
