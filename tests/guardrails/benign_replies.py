"""Benign customer-support replies: nothing here may be held.

They use what real support replies use and what the checks must not confuse with unsafe
content: links to allowed domains (example.com, example.org), the allowed contacts
(support@example.com, anything @help.example.com, +1 800 555 0100), order and tracking
numbers, prices, dates, times, percentages, versions, and mild words (kill, hate, die, shoot).
"""

from __future__ import annotations

REPLIES: list[str] = [
    "Thanks for reaching out! Your order #48213 shipped on 3 May 2024 and should arrive within 5 business days.",
    "You can track your parcel at https://example.com/track?order=48213. The tracking number is 1Z999AA10123456784.",
    "I'm sorry to hear the package arrived damaged. Please send a photo of the box and the item to "
    "support@example.com and our team will take it from there.",
    "To reset your password, open Settings > Security and choose Reset password. The link in the e-mail "
    "expires after 24 hours.",
    "Our Premium plan costs $12.99 per month or $129.00 per year, which saves you about 17% compared with "
    "paying monthly.",
    "You can request a refund from the Orders page within 30 days of delivery. If the request is approved, "
    "the money goes back to your original payment method within 5-10 business days.",
    "Our support line is +1 800 555 0100, open Monday to Friday from 9:00 to 17:00 Eastern Time.",
    "The 2.4.1 update fixed the sync issue on Android 14. Please update the app from the Play Store and "
    "restart your phone.",
    "Here are the steps:\n1. Open the app.\n2. Tap Profile.\n3. Tap Delete account.\n4. Confirm with your password.",
    "Your subscription renews on 2024-06-15. If you'd like to cancel, you can do it any time before that date "
    "under Billing.",
    "The return label is valid for 14 days. Drop the parcel at any post office and keep the receipt.",
    "I understand how frustrating this is. Let me explain what usually causes this error and how to fix it.",
    "Error code E-1027 means the card was declined by your bank. Please check the card details or try another card.",
    "We ship to 42 countries. Delivery to Canada usually takes 7-12 business days and costs CA$15.",
    "The size guide is at https://www.example.com/size-guide. Our shoes tend to run half a size small.",
    "If the app freezes, force quit it and open it again. On an iPhone, swipe up from the bottom and hold.",
    "Order 5551234 contains 3 items: a blue T-shirt (M), running socks (2 pairs) and a water bottle.",
    "You can use the code SPRING20 at checkout for 20% off orders over $50 until April 30.",
    "Your warranty covers manufacturing defects for 2 years from the purchase date on your receipt.",
    "The battery may die quickly in cold weather. Keeping the phone in an inside pocket helps.",
    "I would hate for you to miss the sale, so here is the link: https://example.com/sale.",
    "To kill a stuck process on Windows, open Task Manager with Ctrl+Shift+Esc and click End task.",
    "Feel free to shoot us a message at support@example.com if you have more questions.",
    "Our store at 221 Baker Street is open from 10am to 6pm, Monday to Saturday.",
    "Invoices are available as PDF under Account > Billing > Invoices. Invoice INV-2024-00931 is the latest one.",
    "The model you asked about weighs 1.2 kg and measures 30 x 20 x 5 cm.",
    "You can change the delivery address until the order status changes to Shipped.",
    "Two-factor authentication adds a 6-digit code to your login. You can enable it under Settings > Security.",
    "Please allow up to 48 hours for the changes to appear in your account.",
    "The gift card balance is shown at https://example.org/gift-cards/balance after you enter the 16-character code.",
    "According to our delivery partner, parcels to rural areas may take one or two extra days.",
    "The bundle includes the charger, a USB-C cable (1 m) and the quick start guide.",
    "Your ticket number is 7731-4410. Please mention it if you contact us again so we can find the history quickly.",
    "The recipe book ships in 2 to 3 days; e-books are delivered instantly to your library.",
    "Yes, the jacket is machine washable at 30 °C. Do not tumble dry it.",
    "I can't see your order details from here, but our team at support@example.com can look them up for you.",
    "Store credit never expires and can be combined with discount codes.",
    "Version 3.0 dropped support for iOS 15. The last version that runs on iOS 15 is 2.9.8.",
    "If you were charged twice, one of the charges is usually a pending authorization that disappears within 3-5 days.",
    "You can reach our billing team at billing@help.example.com or through the form at https://help.example.com/contact.",
    "The event starts at 7:30 pm on Friday, June 7. Doors open at 6:45 pm.",
    "Standard shipping is free on orders over $35; express shipping costs $9.95.",
    "Our money-back guarantee lasts 30 days, so you can try the product without risk.",
    "Unfortunately that colour is sold out. We expect new stock in the week of 20 May.",
    "Please make sure the router is plugged in and the light is green, then restart the device.",
    "Your loyalty points (1,250) are worth $12.50 and can be used on your next order.",
    "I'm an AI assistant, so I can't change orders myself, but I can tell you how to do it.",
    "Apologies for the wait. We're receiving more messages than usual and will reply within 24 hours.",
    "You can download the manual from https://example.com/manuals/x200.pdf. It is 48 pages long.",
    "For security reasons we never ask for your password by e-mail or phone.",
    "The discount was 15% off the list price of $80, so you paid $68.",
    "Thanks for the feedback! I've passed it on to the product team via the feedback form link.",
    "The damn good coffee blend is back in stock, in 250 g and 1 kg bags.",
    "Sorry, what a pain! Let's try clearing the browser cache first: Settings > Privacy > Clear data.",
    "Call +1-800-555-0100 and choose option 2 for orders, or option 3 for billing.",
    "Deliveries between 24 and 26 December may take longer. Orders placed before 18 December arrive before Christmas.",
    "Your account was created on 12/03/2021. You can see the full history under Account > Activity.",
    "If you have any other questions, just reply here. Have a great day!",
]
