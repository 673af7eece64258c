"""Lesson 07-masked: the class and the grade each student must get (6 autograded points)."""

from tests.classes import Student

ALL_PATCHES = '''def masked_loss(pred, target, mask):
    return ((pred - target) ** 2).mean()'''

STUDENTS = [
    Student("reference", 6),
    Student("blank", 0, blank=True),
    # L - floor(r L) instead of round((1 - r) L): right at r = 0.75 and L = 16, one patch too many at r = 0.6
    Student("keeps-one-patch-too-many", 4, answers={"ex-random-masking": '''def random_masking(num_images, num_patches, mask_ratio, seed=None):
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    num_keep = num_patches - int(mask_ratio * num_patches)
    ids_shuffle = torch.rand(num_images, num_patches, generator=generator).argsort(dim=1)
    ids_restore = ids_shuffle.argsort(dim=1)
    mask = torch.ones(num_images, num_patches)
    mask[:, :num_keep] = 0
    return ids_shuffle[:, :num_keep], torch.gather(mask, 1, ids_restore), ids_restore'''}),
    Student("loss-over-all-patches", 4, answers={"ex-masked-loss": ALL_PATCHES}),
    Student("written-differently", 6, answers={
        "ex-patchify": '''import torch.nn.functional as F

def patchify(images, patch_size):
    # unfold lists each patch's pixels row by row, patches row by row: (N, p*p, L) -> (N, L, p*p)
    return F.unfold(images[:, None], kernel_size=patch_size, stride=patch_size).transpose(1, 2)

def unpatchify(patches, patch_size, image_shape):
    n, length, dim = patches.shape
    height, width = image_shape
    out = patches.new_zeros((n, height, width))
    cols = width // patch_size
    for index in range(length):                       # one patch at a time
        i, j = divmod(index, cols)
        out[:, i * patch_size:(i + 1) * patch_size, j * patch_size:(j + 1) * patch_size] = \\
            patches[:, index].reshape(n, patch_size, patch_size)
    return out''',
        "ex-random-masking": '''def random_masking(num_images, num_patches, mask_ratio, seed=None):
    rng = np.random.default_rng(seed)
    num_keep = int(np.round((1.0 - mask_ratio) * num_patches))
    ids_keep = np.empty((num_images, num_keep), dtype=np.int64)
    mask = np.ones((num_images, num_patches), dtype=np.float32)
    ids_restore = np.empty((num_images, num_patches), dtype=np.int64)
    for n in range(num_images):
        order = rng.permutation(num_patches)
        ids_keep[n] = order[:num_keep]
        mask[n, order[:num_keep]] = 0.0
        ids_restore[n, order] = np.arange(num_patches)   # the inverse permutation
    return ids_keep, mask, ids_restore''',
        "ex-masked-loss": '''def masked_loss(pred, target, mask):
    hidden = mask.bool()
    return ((pred - target) ** 2)[hidden].mean()       # every selected patch has P pixels'''}),
    Student("edits-a-test", 4, status="tampered", tamper={"test-masked-loss": "pass"},
            answers={"ex-masked-loss": ALL_PATCHES}),
]
