"""Real photographs: face detection, landmarks, FFHQ-style alignment, crop and paste back."""
